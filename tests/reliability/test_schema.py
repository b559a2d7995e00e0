"""Property-based requests from the service's own OpenAPI document, sent to the app in-process.

Every operation gets generated requests, valid and invalid, from a caller identified as the
mesh would identify it. Every response must be a non-5xx that conforms to the document in status
code, content type, headers and body schema. A request without identity must get 401. The fast
case runs a few examples per operation; the slow one many more.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import CheckFunction
from schemathesis.generation.case import Case
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.auth import AuthMode
from app.core.config import Settings
from app.main import create_app
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY

WEBHOOK_SECRET = "schema-webhook-secret-1c9e"
OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
CALLER = "spiffe://cluster.local/ns/schema/sa/every-permission"
PERMISSIONS = ["grants:register", "grants:read", "grants:delete", "events:read", "admin"]
IDENTITY = {"X-Forwarded-Client-Cert": f"By=spiffe://cluster.local/ns/gb/sa/gb;URI={CALLER}"}
FAST_EXAMPLES = 8
SLOW_EXAMPLES = 150
# Hypothesis must not blame the service for slow database setup on a loaded machine.
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.filter_too_much]

# NOTE: these operations reject some requests that their documented schema allows, so the
# check that schema-valid requests are accepted is skipped for them. The strict xfail tests
# below fail as soon as the document is fixed, and the entry can then go:
# - POST /v1/grants: the user ids "." and ".." match the documented pattern but get 422.
# - GET /v1/events: `after` is documented as up to 10 digits; values above 2147483647 (the
#   largest event id) get 422.
# - GET /v1/grants: `cursor` is an opaque token, so a string the service did not issue gets
#   422 whatever the document states. This entry stays.
SCHEMA_GAPS = {
    ("POST", "/v1/grants"),
    ("GET", "/v1/events"),
    ("GET", "/v1/grants"),
}


@pytest.fixture
def api_schema(quick_settings: Settings) -> Iterator[BaseSchema]:
    """The service's schema, served in mesh mode by an app whose Nylas is the simulator."""
    simulator = NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=1_000_000)
    configured = quick_settings.model_copy(
        update={
            "auth_mode": AuthMode.MESH,
            "callers": json.dumps({CALLER: PERMISSIONS}),
            # With a webhook secret the webhook route returns 4xx for bad deliveries, not 503.
            "nylas_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "log_level": "WARNING",
        }
    )
    app = create_app(configured, nylas_transport=simulator.transport())
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # Schemathesis keeps each app's lifespan running until the process exits; end it while the
    # test's database still exists.
    asgi.shutdown_lifespans()


def _operations() -> list[tuple[str, str]]:
    """Return (method, path) of every operation in the committed OpenAPI document."""
    document = json.loads(OPENAPI_PATH.read_text())
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


def _check_operation(schema: BaseSchema, method: str, path: str, examples: int) -> None:
    operation = schema[path][method]
    excluded: list[CheckFunction] = []
    if (method, path) in SCHEMA_GAPS:
        excluded.append(positive_data_acceptance)

    # The app's lifespan runs once, on schemathesis's own event loop thread.
    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=SUPPRESSED)
    def check(case: Case[Any]) -> None:
        case.call_and_validate(headers=IDENTITY, excluded_checks=excluded)

    check()


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms(api_schema: BaseSchema, method: str, path: str) -> None:
    _check_operation(api_schema, method, path, FAST_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms_thoroughly(api_schema: BaseSchema, method: str, path: str) -> None:
    _check_operation(api_schema, method, path, SLOW_EXAMPLES)


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())["components"]["schemas"][name]
    return schema


def test_registration_user_id_documented() -> None:
    user_id = _schema("OAuthRegistration")["properties"]["user_id"]

    assert "pattern" in user_id


def test_webhook_challenge_documented_required() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    parameters = document["paths"]["/v1/nylas/webhooks"]["get"]["parameters"]

    assert [parameter["required"] for parameter in parameters] == [True]


def test_events_cursor_documented_digits() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    parameters = document["paths"]["/v1/events"]["get"]["parameters"]
    after = next(parameter for parameter in parameters if parameter["name"] == "after")

    assert after["schema"].get("pattern") == "^[0-9]{1,10}$"
