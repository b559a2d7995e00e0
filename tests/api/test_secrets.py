"""Canary credentials never reach a response, a log line or the database, on any path."""

import io
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.config import Settings
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY, _asyncpg_dsn, database_file

CANARY = "canary-5e1f-DO-NOT-STORE"


def _registrations() -> dict[str, dict[str, Any]]:
    return {
        "google": {
            "user_id": "u-g",
            "provider": "google",
            "settings": {"refresh_token": f"{CANARY}-rt"},
        },
        "imap": {
            "user_id": "u-i",
            "provider": "imap",
            "settings": {
                "imap_username": "canary-user@example.net",
                "imap_password": f"{CANARY}-imap",
                "smtp_username": "canary-user@example.net",
                "smtp_password": f"{CANARY}-smtp",
            },
        },
        "icloud": {
            "user_id": "u-c",
            "provider": "icloud",
            "settings": {"username": "canary@icloud.com", "password": f"{CANARY}-icloud"},
        },
        "ews": {
            "user_id": "u-e",
            "provider": "ews",
            "settings": {
                "email": "canary@corp.example",
                "ews_username": "CORP\\canary",
                "ews_password": f"{CANARY}-ews",
            },
        },
    }


Arrange = Callable[[NylasSimulator, dict[str, Any]], None]


def _no_fault(simulator: NylasSimulator, body: dict[str, Any]) -> None:
    return None


def _revoked(simulator: NylasSimulator, body: dict[str, Any]) -> None:
    secret = next(v for k, v in body["settings"].items() if "password" in k or "token" in k)
    simulator.revoke_credential(provider=body["provider"], secret=secret)


def _fault(**fault: Any) -> Arrange:
    def arrange(simulator: NylasSimulator, body: dict[str, Any]) -> None:
        simulator.inject_fault(operation="connect_custom", times=None, **fault)

    return arrange


def _bad_key(simulator: NylasSimulator, body: dict[str, Any]) -> None:
    simulator.accept_api_keys(["another-key"])


SCENARIOS: dict[str, Arrange] = {
    "success": _no_fault,
    "credentials_revoked": _revoked,
    "api_key_rejected": _bad_key,
    "html_502": _fault(status=502, body="<html>bad gateway</html>", content_type="text/html"),
    "rate_limited": _fault(
        status=429,
        body='{"error": {"type": "nylas_rate_limit_exceeded"}}',
        headers={"Retry-After": "30"},
    ),
    "connection_reset": _fault(reset=True),
    "timeout": _fault(latency=2.0),
}


def _echo_secret(simulator: NylasSimulator, body: dict[str, Any]) -> None:
    # A buggy upstream that quotes the submitted credential back in its error message.
    secret = next(v for k, v in body["settings"].items() if "password" in k or "token" in k)
    message = f'{{"error": {{"type": "invalid_request_error", "message": "bad {secret}"}}}}'
    simulator.inject_fault(operation="connect_custom", status=400, body=message, times=None)


SCENARIOS["upstream_echoes_secret"] = _echo_secret


async def _database_text(url: str) -> str:
    """Return everything the database holds, as text."""
    path = database_file(url)
    if path is not None:
        files = [path, path.with_name(path.name + "-wal")]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        rows = []
        for table in tables:
            query = f'SELECT row_to_json(t)::text FROM "{table["tablename"]}" t'  # noqa: S608
            rows += [row[0] for row in await connection.fetch(query)]
        return "\n".join(rows)
    finally:
        await connection.close()


def _assert_clean(text: str, where: str) -> None:
    assert CANARY not in text, f"a canary credential reached {where}"
    assert TEST_API_KEY not in text, f"the Nylas API key reached {where}"


@pytest.mark.parametrize("provider", ["google", "imap", "icloud", "ews"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_canary_never_leaks(
    settings: Settings,
    simulator: NylasSimulator,
    log_output: io.StringIO,
    provider: str,
    scenario: str,
) -> None:
    from app.main import create_app

    body = _registrations()[provider]
    SCENARIOS[scenario](simulator, body)
    quick = settings.model_copy(
        update={"nylas_read_timeout": 0.3, "nylas_retry_budget": 1.5, "nylas_max_attempts": 2}
    )
    app = create_app(quick, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.post(
                "/v1/grants", json=body, headers={"Idempotency-Key": f"k-{scenario}"}
            )
            replay = await client.post(
                "/v1/grants", json=body, headers={"Idempotency-Key": f"k-{scenario}"}
            )
            listing = await client.get("/v1/grants")

    for name, part in {"response": response, "replay": replay, "listing": listing}.items():
        _assert_clean(part.text, name)
        _assert_clean(str(part.headers), name + " headers")
    _assert_clean(log_output.getvalue(), "the log")
    _assert_clean(await _database_text(quick.database_url), "the database")
    assert log_output.getvalue(), "the service logged nothing, so the log check proves nothing"


async def test_canary_validation_failure_not_logged(
    client: httpx.AsyncClient, log_output: io.StringIO, settings: Settings
) -> None:
    body = {"user_id": "u-300", "provider": "gmail", "settings": {"refresh_token": CANARY}}

    response = await client.post("/v1/grants", json=body)

    assert response.status_code == 422
    _assert_clean(response.text, "the response")
    _assert_clean(log_output.getvalue(), "the log")
    assert "http.validation_failed" in log_output.getvalue()
    _assert_clean(await _database_text(settings.database_url), "the database")


def test_settings_repr_masks_api_key(settings: Settings) -> None:
    assert TEST_API_KEY not in repr(settings)
    assert TEST_API_KEY not in str(settings.model_dump())


async def test_database_text_sees_stored_values(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Guards the canary checks above: the dump must contain what the tables hold.
    response = await client.post("/v1/grants", json=_registrations()["google"])

    assert response.json()["grant_id"] in await _database_text(settings.database_url)
