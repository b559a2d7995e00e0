from __future__ import annotations

import httpx
import pytest

from app.nylas import (
    NylasBadRequest,
    NylasError,
    NylasForbidden,
    NylasInvalidResponse,
    NylasNotFound,
    NylasRateLimited,
    NylasUnauthorized,
    NylasUnavailable,
    RetryPolicy,
)

from .fakes import ClientFactory, ScriptedUpstream, error_body, grant_json, respond

SINGLE_ATTEMPT = RetryPolicy(max_attempts=1, budget=20.0, backoff_initial=0.5, backoff_max=8.0)

# A gateway in front of Nylas returned 502 with an HTML page instead of JSON.
BAD_GATEWAY_HTML = (
    "<html><body><h1>502 Bad Gateway</h1>The upstream server is unavailable, "
    "please try again later.</body></html>"
)

# Nylas returned 500 with `error` as a plain string instead of an object.
ERROR_AS_STRING = {
    "request_id": "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
    "error": "internal failure while contacting provider",
}


async def fail_get_grant(make_client: ClientFactory, reply: object) -> NylasError:
    client = make_client(ScriptedUpstream([reply]), retry=SINGLE_ATTEMPT)  # type: ignore[list-item]
    with pytest.raises(NylasError) as caught:
        await client.get_grant("g-1")
    return caught.value


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, NylasBadRequest),
        (401, NylasUnauthorized),
        (403, NylasForbidden),
        (404, NylasNotFound),
        (429, NylasRateLimited),
        (500, NylasUnavailable),
        (501, NylasUnavailable),
        (502, NylasUnavailable),
        (503, NylasUnavailable),
        (504, NylasUnavailable),
        (405, NylasError),
        (409, NylasError),
        (302, NylasError),
    ],
)
async def test_error_class_follows_status(
    make_client: ClientFactory, status: int, error_class: type[NylasError]
) -> None:
    error = await fail_get_grant(make_client, respond(status, error_body("x", "failed")))

    assert type(error) is error_class
    assert error.status == status


async def test_error_usual_envelope(make_client: ClientFactory) -> None:
    body = error_body(
        "invalid_request_error",
        "Invalid or revoked refresh token",
        provider_error={"error": "invalid_grant"},
        request_id="r-400",
    )

    error = await fail_get_grant(make_client, respond(400, body))

    assert isinstance(error, NylasBadRequest)
    assert error.error_type == "invalid_request_error"
    assert error.detail == "Invalid or revoked refresh token"
    assert error.provider_error == {"error": "invalid_grant"}
    assert error.request_id == "r-400"
    assert error.operation == "get_grant"


async def test_error_html_502(make_client: ClientFactory) -> None:
    reply = respond(502, text=BAD_GATEWAY_HTML, headers={"X-Request-Id": "edge-1"})

    error = await fail_get_grant(make_client, reply)

    assert isinstance(error, NylasUnavailable)
    assert error.status == 502
    assert error.detail.startswith("502 Bad Gateway The upstream server is unavailable")
    assert "<" not in error.detail
    assert error.request_id == "edge-1"
    assert error.error_type is None


async def test_error_string_error(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(500, ERROR_AS_STRING))

    assert isinstance(error, NylasUnavailable)
    assert error.status == 500
    assert error.detail == "internal failure while contacting provider"
    assert error.request_id == "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


async def test_error_missing_error_key(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(500, {"request_id": "r-5", "oops": True}))

    assert isinstance(error, NylasUnavailable)
    assert error.detail == '{"request_id": "r-5", "oops": true}'
    assert error.request_id == "r-5"


async def test_error_empty_body(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(503))

    assert isinstance(error, NylasUnavailable)
    assert error.status == 503
    assert error.detail == ""
    assert error.request_id is None


async def test_error_json_array_body(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(400, [{"message": "bad"}]))

    assert isinstance(error, NylasBadRequest)
    assert error.detail == '[{"message": "bad"}]'
    assert error.provider_error is None


async def test_error_plain_text_body(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(404, text="Cannot GET /v3/grants/g-1"))

    assert isinstance(error, NylasNotFound)
    assert error.detail == "Cannot GET /v3/grants/g-1"


async def test_error_numeric_type(make_client: ClientFactory) -> None:
    body = {"request_id": "r", "error": {"type": 70005, "message": "m"}}

    error = await fail_get_grant(make_client, respond(400, body))

    assert error.error_type == "70005"


async def test_error_detail_truncated(make_client: ClientFactory) -> None:
    error = await fail_get_grant(make_client, respond(400, error_body("x", "word " * 100)))

    assert len(error.detail) <= 200
    assert error.detail.endswith("...")


async def test_error_provider_error_kept_short(make_client: ClientFactory) -> None:
    provider_error = {
        "error": "invalid_grant",
        "code": 400,
        "nested": {"deep": "value"},
        "missing": None,
        "long": "z" * 1000,
    }
    body = error_body("provider_error", "m", provider_error=provider_error)

    error = await fail_get_grant(make_client, respond(401, body))

    assert error.provider_error is not None
    assert error.provider_error["error"] == "invalid_grant"
    assert error.provider_error["code"] == "400"
    assert "nested" not in error.provider_error
    assert "missing" not in error.provider_error
    assert len(error.provider_error["long"]) <= 200


async def test_error_provider_error_string(make_client: ClientFactory) -> None:
    body = error_body("provider_error", "m")
    body["error"]["provider_error"] = "token revoked"

    error = await fail_get_grant(make_client, respond(401, body))

    assert error.provider_error == {"message": "token revoked"}


async def test_error_str_names_call(make_client: ClientFactory) -> None:
    body = error_body("not_found_error", "grant not found", request_id="r-404")

    error = await fail_get_grant(make_client, respond(404, body))

    assert str(error) == (
        "Nylas get_grant failed: HTTP 404 (not_found_error) - grant not found [request_id r-404]"
    )


def test_unauthorized_api_key_rejected() -> None:
    rejected = NylasUnauthorized(operation="get_grant", status=401)
    revoked = NylasUnauthorized(
        operation="get_grant", status=401, provider_error={"error": "invalid_grant"}
    )

    assert rejected.api_key_rejected is True
    assert revoked.api_key_rejected is False


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (respond(200, text="<html>ok</html>"), "not a JSON object"),
        (respond(200), "not a JSON object"),
        (respond(200, [grant_json()]), "not a JSON object"),
        (respond(200, {"request_id": "r"}), "data: Input should be a valid dictionary"),
        (respond(200, {"data": {"provider": "google"}}), "data.id"),
        (respond(200, {"data": grant_json(grant_status="expired")}), "data.grant_status"),
    ],
    ids=["html", "empty", "array", "no data", "no id", "bad status"],
)
async def test_invalid_2xx_body(make_client: ClientFactory, reply: object, reason: str) -> None:
    upstream = ScriptedUpstream([reply])  # type: ignore[list-item]
    client = make_client(upstream)

    with pytest.raises(NylasInvalidResponse) as caught:
        await client.get_grant("g-1")

    assert reason in caught.value.detail
    assert caught.value.status == 200
    assert len(upstream.requests) == 1


async def test_invalid_list_body(make_client: ClientFactory) -> None:
    body = {"data": [grant_json(), {"id": "no-provider"}], "limit": 10, "offset": 0}
    client = make_client(ScriptedUpstream([respond(200, body)]))

    with pytest.raises(NylasInvalidResponse) as caught:
        await client.list_grants()

    assert "data.1.provider" in caught.value.detail


async def test_undecodable_body(make_client: ClientFactory) -> None:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"not gzip"), headers=headers)

    client = make_client(ScriptedUpstream([handle]))

    with pytest.raises(NylasInvalidResponse) as caught:
        await client.get_grant("g-1")

    assert "DecodingError" in caught.value.detail


async def test_error_message_keeps_brackets(make_client: ClientFactory) -> None:
    body = error_body("invalid_request_error", "settings.imap_port must be <integer>")

    error = await fail_get_grant(make_client, respond(400, body))

    assert error.detail == "settings.imap_port must be <integer>"
