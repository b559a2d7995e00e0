from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from app.nylas import NylasError

from .fakes import ClientFactory, FakeClock, ScriptedUpstream, error_body, grant_json, respond

GRANT_REPLY = respond(200, {"request_id": "r-ok", "data": grant_json("g-1")})


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_log_each_request(make_client: ClientFactory, clock: FakeClock) -> None:
    def answer_after_a_while(request: httpx.Request) -> httpx.Response:
        clock.advance(0.125)
        return GRANT_REPLY.build()

    client = make_client(ScriptedUpstream([answer_after_a_while]))

    with capture_logs() as logs:
        await client.get_grant("g-1")

    assert events(logs, "nylas.request") == [
        {
            "event": "nylas.request",
            "log_level": "debug",
            "operation": "get_grant",
            "attempt": 1,
            "status": 200,
            "nylas_request_id": "r-ok",
            "duration_ms": 125.0,
            "grant_id": "g-1",
        }
    ]


async def test_log_retry(make_client: ClientFactory) -> None:
    busy = respond(503, error_body("x", "busy", request_id="r-busy"))
    client = make_client(ScriptedUpstream([busy, GRANT_REPLY]))

    with capture_logs() as logs:
        await client.get_grant("g-1")

    assert events(logs, "nylas.request.retrying") == [
        {
            "event": "nylas.request.retrying",
            "log_level": "info",
            "operation": "get_grant",
            "attempt": 1,
            "status": 503,
            "error": "NylasUnavailable",
            "nylas_request_id": "r-busy",
            "delay": 0.25,
            "grant_id": "g-1",
        }
    ]
    assert events(logs, "nylas.request.failed") == []


async def test_log_transport_retry(make_client: ClientFactory) -> None:
    client = make_client(ScriptedUpstream([httpx.ConnectError("refused"), GRANT_REPLY]))

    with capture_logs() as logs:
        await client.get_grant("g-1")

    [retrying] = events(logs, "nylas.request.retrying")
    assert retrying["status"] is None
    assert retrying["error"] == "NylasConnectionError"


@pytest.mark.parametrize(("status", "level"), [(404, "info"), (401, "warning"), (503, "warning")])
async def test_log_final_failure(make_client: ClientFactory, status: int, level: str) -> None:
    reply = respond(status, error_body("some_error", "failed", request_id="r-fail"))
    client = make_client(ScriptedUpstream([reply]))

    with capture_logs() as logs, pytest.raises(NylasError):
        await client.get_grant("g-1")

    [failed] = events(logs, "nylas.request.failed")
    assert failed["log_level"] == level
    assert failed["operation"] == "get_grant"
    assert failed["status"] == status
    assert failed["nylas_request_id"] == "r-fail"
    assert failed["nylas_error_type"] == "some_error"
    assert "detail" not in failed


async def test_log_invalid_response(make_client: ClientFactory) -> None:
    client = make_client(ScriptedUpstream([respond(200, text="not json")]))

    with capture_logs() as logs, pytest.raises(NylasError):
        await client.get_grant("g-1")

    [failed] = events(logs, "nylas.request.failed")
    assert failed["error"] == "NylasInvalidResponse"
    assert failed["attempts"] == 1


async def test_log_key_rejected(make_client: ClientFactory) -> None:
    reply = respond(401, error_body("unauthorized", "Unauthorized", request_id="r-401"))
    client = make_client(ScriptedUpstream([reply]))

    with capture_logs() as logs, pytest.raises(NylasError):
        await client.list_grants()

    [rejected] = events(logs, "nylas.api_key.rejected")
    assert rejected["operation"] == "list_grants"
    assert rejected["nylas_request_id"] == "r-401"
