"""How Nylas failures reach the caller: typed, retried per policy, never half-stored."""

from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.simulator import NylasSimulator
from tests.api.test_register import google

HTML_502 = (
    "<html><body><h1>502 Bad Gateway</h1>The upstream server is unavailable, "
    "please try again later.</body></html>"
)
ERROR_AS_STRING = (
    '{"request_id": "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d", '
    '"error": "internal failure while contacting provider"}'
)
RATE_LIMITED = (
    '{"request_id": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918", "error": {"type": '
    '"nylas_rate_limit_exceeded", "message": "Too many requests, please try again shortly."}}'
)


async def _assert_nothing_stored(client: httpx.AsyncClient, user_id: str) -> None:
    assert (await client.get(f"/v1/users/{user_id}/grant")).status_code == 404
    assert (await client.get("/v1/grants")).json()["items"] == []


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_html_502_is_retried_then_502(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(
        operation="connect_custom", status=502, body=HTML_502, content_type="text/html", times=None
    )

    response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

    assert response.status_code == 502
    assert _problem(response)["nylas_status"] == 502
    assert simulator.call_count("connect_custom") == 3
    await _assert_nothing_stored(client, "u-1")


async def test_html_502_once_then_success(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(
        operation="connect_custom", status=502, body=HTML_502, content_type="text/html", times=1
    )

    response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

    assert response.status_code == 201
    assert simulator.call_count("connect_custom") == 2


async def test_error_as_string_is_502_with_request_id(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(operation="connect_custom", status=500, body=ERROR_AS_STRING, times=None)

    response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

    problem = _problem(response)
    assert response.status_code == 502
    assert problem["nylas_status"] == 500
    assert problem["nylas_request_id"] == "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    await _assert_nothing_stored(client, "u-1")


async def test_rate_limit_beyond_budget_is_503(
    settings: Settings, simulator: NylasSimulator
) -> None:
    # The caller cannot wait 2 s inside a 1 s budget, so the broker returns 503 at once.
    tight = settings.model_copy(update={"nylas_retry_budget": 1.0})
    simulator.inject_fault(
        operation="connect_custom",
        status=429,
        body=RATE_LIMITED,
        headers={"Retry-After": "2"},
        times=None,
    )
    app = create_app(tight, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

            assert response.status_code == 503
            assert int(response.headers["retry-after"]) >= 2
            assert _problem(response)["nylas_status"] == 429
            await _assert_nothing_stored(client, "u-1")


@pytest.mark.parametrize(
    ("fault", "expected_status"),
    [
        ({"status": 503, "body": '{"error": {"type": "unavailable"}}'}, 503),
        ({"status": 504, "body": "Gateway Timeout", "content_type": "text/plain"}, 504),
        ({"status": 500, "body": "{}"}, 502),
        ({"status": 500, "body": "[1, 2]"}, 502),
        (
            {"status": 404, "body": "Cannot POST /v3/connect/custom", "content_type": "text/plain"},
            502,
        ),
        ({"reset": True}, 503),
    ],
)
async def test_upstream_fault_maps_to_status(
    client: httpx.AsyncClient,
    simulator: NylasSimulator,
    fault: dict[str, Any],
    expected_status: int,
) -> None:
    simulator.inject_fault(operation="connect_custom", times=None, **fault)

    response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

    assert response.status_code == expected_status
    _problem(response)
    await _assert_nothing_stored(client, "u-1")


async def test_timeout_is_504(settings: Settings, simulator: NylasSimulator) -> None:
    quick = settings.model_copy(update={"nylas_read_timeout": 0.2, "nylas_max_attempts": 2})
    simulator.inject_fault(operation="connect_custom", latency=1.0, times=None)
    app = create_app(quick, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

            assert response.status_code == 504
            await _assert_nothing_stored(client, "u-1")


async def test_rejected_api_key_is_502_with_hint(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.accept_api_keys(["some-other-key"])

    response = await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))

    problem = _problem(response)
    assert response.status_code == 502
    assert problem["type"].endswith("/nylas-api-key-rejected")
    assert "check the key and its region" in problem["detail"]


async def test_revoked_token_is_422_credentials_rejected(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.revoke_credential(provider="google", secret="rt-revoked")

    response = await client.post("/v1/grants", json=google("u-1", "rt-revoked"))

    problem = _problem(response)
    assert response.status_code == 422
    assert problem["type"].endswith("/credentials-rejected")
    assert problem["provider_error"] == "invalid_grant"
    assert simulator.call_count("connect_custom") == 1


async def test_google_scope_without_openid_is_rejected(client: httpx.AsyncClient) -> None:
    body = google("u-1", "sim:a@example.com:1", scope=["https://mail.google.com/"])

    response = await client.post("/v1/grants", json=body)

    # Nylas refuses it without a provider_error, so the request is at fault, not the token.
    assert response.status_code == 422
    assert _problem(response)["type"].endswith("/registration-rejected")
    assert "Invalid or revoked refresh token" in _problem(response)["detail"]
