from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from app.nylas import NylasError, StaticApiKey
from app.nylas.calls import NylasCall

from .fakes import ClientFactory, ScriptedUpstream, grant_json

# Canary credentials: each contains a marker that must never show up in an error or a log.
API_KEY_CANARY = "nylas-key-CANARYAPIKEY-3f9a1c"
REFRESH_TOKEN_CANARY = "1//rt-CANARYREFRESH-77d2e0"
# A quote, a backslash and a non-ASCII letter make the JSON and URL spellings differ.
PASSWORD_CANARY = 'pw-CANARYPASSWORD-"q"\\é'
PLAIN_PASSWORD_CANARY = "plain-CANARYPLAIN-51"
MARKERS = ["CANARYAPIKEY", "CANARYREFRESH", "CANARYPASSWORD", "CANARYPLAIN"]

SETTINGS = {
    "imap_username": "jordan@example.net",
    "imap_password": SecretStr(PASSWORD_CANARY),
    "smtp_password": PLAIN_PASSWORD_CANARY,
    "refresh_token": SecretStr(REFRESH_TOKEN_CANARY),
    "imap_host": "imap.example.net",
}


def echo(request: httpx.Request) -> str:
    """Return every secret of a request, the way a careless server would echo it back."""
    return request.content.decode() + " " + request.headers["authorization"]


def envelope(status: int, message: str, **error: object) -> httpx.Response:
    body = {"request_id": "r-1", "error": {"type": "api_error", "message": message, **error}}
    return httpx.Response(status, json=body)


Scenario = Callable[[httpx.Request], httpx.Response]


def echo_in_message(status: int) -> Scenario:
    def handle(request: httpx.Request) -> httpx.Response:
        return envelope(status, "bad: " + echo(request))

    return handle


SCENARIOS: dict[str, Scenario] = {
    **{
        f"{status} message echo": echo_in_message(status)
        for status in (400, 401, 403, 404, 409, 429, 500, 502, 503, 504)
    },
    "provider_error echo": lambda request: envelope(
        401, "revoked", provider_error={"error": REFRESH_TOKEN_CANARY, "body": echo(request)}
    ),
    "html 502 echo": lambda request: httpx.Response(
        502, text=f"<html><body>{echo(request)}</body></html>"
    ),
    "string error echo": lambda request: httpx.Response(
        500, json={"request_id": "r-1", "error": echo(request)}
    ),
    "array body echo": lambda request: httpx.Response(400, json=[echo(request)]),
    "url-encoded echo": lambda request: envelope(
        400, quote(PASSWORD_CANARY) + " " + quote(API_KEY_CANARY)
    ),
    "request id and type echo": lambda request: httpx.Response(
        400,
        json={"error": {"type": API_KEY_CANARY, "message": "m"}},
        headers={"X-Request-Id": REFRESH_TOKEN_CANARY},
    ),
    "body request id echo": lambda request: httpx.Response(
        500, json={"request_id": PASSWORD_CANARY, "error": "m"}
    ),
    "secret at truncation point": lambda request: envelope(400, "x" * 190 + REFRESH_TOKEN_CANARY),
    "invalid 2xx echo": lambda request: httpx.Response(
        201, json={"data": grant_json(grant_status=echo(request), email=[PASSWORD_CANARY])}
    ),
    "invalid 2xx text echo": lambda request: httpx.Response(200, text=echo(request)),
}


def raise_with_secret(error_class: type[Exception]) -> Scenario:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error_class("failed while sending " + echo(request))

    return handle


SCENARIOS["timeout echo"] = raise_with_secret(httpx.ReadTimeout)
SCENARIOS["connection error echo"] = raise_with_secret(httpx.ConnectError)


def texts_of(error: NylasError) -> dict[str, str]:
    return {
        "str": str(error),
        "repr": repr(error),
        "args": repr(error.args),
        "detail": error.detail,
        "request_id": str(error.request_id),
        "error_type": str(error.error_type),
        "provider_error": str(error.provider_error),
    }


@pytest.mark.parametrize("scenario", list(SCENARIOS), ids=list(SCENARIOS))
async def test_canaries_absent(make_client: ClientFactory, scenario: str) -> None:
    upstream = ScriptedUpstream([SCENARIOS[scenario]])
    client = make_client(upstream, api_key=StaticApiKey(SecretStr(API_KEY_CANARY)))

    with capture_logs() as logs, pytest.raises(NylasError) as caught:
        await client.connect_custom(provider="imap", settings=SETTINGS)

    sent = echo(upstream.requests[0])
    assert all(marker in sent for marker in MARKERS), "the canaries were not sent"
    for name, text in texts_of(caught.value).items():
        for marker in MARKERS:
            assert marker not in text, f"{marker} leaked into {name}"
    log_text = repr(logs)
    for marker in MARKERS:
        assert marker not in log_text, f"{marker} leaked into a log line"


async def test_redaction_keeps_context(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream(
        [lambda request: envelope(400, f"bad token {REFRESH_TOKEN_CANARY}")]
    )
    client = make_client(upstream)

    with pytest.raises(NylasError) as caught:
        await client.connect_custom(provider="google", settings=SETTINGS)

    assert caught.value.detail == "bad token [redacted]"


async def test_plain_settings_not_redacted(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([lambda request: envelope(400, "cannot reach imap.example.net")])
    client = make_client(upstream)

    with pytest.raises(NylasError) as caught:
        await client.connect_custom(provider="imap", settings=SETTINGS)

    assert caught.value.detail == "cannot reach imap.example.net"


def test_static_key_repr_masked() -> None:
    assert API_KEY_CANARY not in repr(StaticApiKey(SecretStr(API_KEY_CANARY)))


def test_call_repr_hides_body() -> None:
    content = json.dumps({"settings": {"refresh_token": REFRESH_TOKEN_CANARY}}).encode()
    call = NylasCall(
        operation="connect_custom",
        method="POST",
        path="/v3/connect/custom",
        content=content,
        secrets=(REFRESH_TOKEN_CANARY,),
    )

    assert "CANARYREFRESH" not in repr(call)
