from __future__ import annotations

import pytest

from app.nylas import NylasUnauthorized, RetryPolicy

from .fakes import (
    ClientFactory,
    FakeClock,
    RotatingApiKey,
    ScriptedUpstream,
    accept_only,
    error_body,
    grant_json,
    respond,
)

GRANT_REPLY = respond(200, {"request_id": "r-ok", "data": grant_json("g-1")})


def bearer_tokens(upstream: ScriptedUpstream) -> list[str]:
    return [request.headers["authorization"] for request in upstream.requests]


async def test_rejected_key_refreshed_once(make_client: ClientFactory, clock: FakeClock) -> None:
    keys = RotatingApiKey("key-a", "key-b")
    upstream = ScriptedUpstream([accept_only("key-b", GRANT_REPLY)])
    client = make_client(upstream, api_key=keys)

    grant = await client.get_grant("g-1")

    assert grant.id == "g-1"
    assert keys.rejected == ["key-a"]
    assert bearer_tokens(upstream) == ["Bearer key-a", "Bearer key-b"]
    assert clock.sleeps == []


async def test_key_refresh_not_an_attempt(make_client: ClientFactory) -> None:
    keys = RotatingApiKey("key-a", "key-b")
    upstream = ScriptedUpstream([accept_only("key-b", GRANT_REPLY)])
    one_attempt = RetryPolicy(max_attempts=1, budget=20.0, backoff_initial=0.5, backoff_max=8.0)
    client = make_client(upstream, api_key=keys, retry=one_attempt)

    grant = await client.get_grant("g-1")

    assert grant.id == "g-1"


async def test_key_refresh_unavailable(make_client: ClientFactory) -> None:
    keys = RotatingApiKey("key-a")
    upstream = ScriptedUpstream([accept_only("key-b", GRANT_REPLY)])
    client = make_client(upstream, api_key=keys)

    with pytest.raises(NylasUnauthorized) as caught:
        await client.get_grant("g-1")

    assert caught.value.api_key_rejected
    assert keys.rejected == ["key-a"]
    assert len(upstream.requests) == 1


async def test_new_key_rejected_too(make_client: ClientFactory) -> None:
    keys = RotatingApiKey("key-a", "key-b", "key-c")
    upstream = ScriptedUpstream([accept_only("key-c", GRANT_REPLY)])
    client = make_client(upstream, api_key=keys)

    with pytest.raises(NylasUnauthorized):
        await client.get_grant("g-1")

    assert keys.rejected == ["key-a"]
    assert bearer_tokens(upstream) == ["Bearer key-a", "Bearer key-b"]


async def test_provider_401_keeps_key(make_client: ClientFactory) -> None:
    # A 401 with provider_error is about the user's revoked refresh token, not the API key.
    body = error_body("provider_error", "token revoked", provider_error={"error": "invalid_grant"})
    keys = RotatingApiKey("key-a", "key-b")
    upstream = ScriptedUpstream([respond(401, body), GRANT_REPLY])
    client = make_client(upstream, api_key=keys)

    with pytest.raises(NylasUnauthorized) as caught:
        await client.connect_custom(provider="google", settings={"refresh_token": "rt"})

    assert not caught.value.api_key_rejected
    assert keys.rejected == []
    assert len(upstream.requests) == 1


async def test_key_refresh_after_retry(make_client: ClientFactory, clock: FakeClock) -> None:
    # The key is rotated between two attempts of the same call.
    keys = RotatingApiKey("key-a", "key-b")
    rejected = respond(401, error_body("unauthorized", "Unauthorized"))
    upstream = ScriptedUpstream([respond(503, error_body("x", "busy")), rejected, GRANT_REPLY])
    client = make_client(upstream, api_key=keys)

    await client.get_grant("g-1")

    assert bearer_tokens(upstream) == ["Bearer key-a", "Bearer key-a", "Bearer key-b"]
    assert clock.sleeps == [0.25]
