from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.nylas import (
    NylasClient,
    NylasConnectionError,
    NylasError,
    NylasRateLimited,
    NylasTimeout,
    NylasUnavailable,
    RetryPolicy,
    StaticApiKey,
    create_http_client,
)

from .fakes import (
    API_KEY,
    ClientFactory,
    FakeClock,
    Handler,
    ScriptedUpstream,
    error_body,
    grant_json,
    request_json,
    respond,
)

GRANT_REPLY = respond(200, {"request_id": "r-ok", "data": grant_json("g-1")})

# Nylas throttled the application and asked for a 2 s pause.
RATE_LIMITED_RETRY_AFTER_2 = respond(
    429,
    {
        "request_id": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918",
        "error": {
            "type": "nylas_rate_limit_exceeded",
            "message": "Too many requests, please try again shortly.",
        },
    },
    headers={"Retry-After": "2"},
)


def policy(**changes: float) -> RetryPolicy:
    values: dict[str, float] = {
        "max_attempts": 3,
        "budget": 20.0,
        "backoff_initial": 0.5,
        "backoff_max": 8.0,
    }
    values.update(changes)
    return RetryPolicy(
        max_attempts=int(values["max_attempts"]),
        budget=values["budget"],
        backoff_initial=values["backoff_initial"],
        backoff_max=values["backoff_max"],
        retry_after_cap=values.get("retry_after_cap", 30.0),
    )


def slow(clock: FakeClock, seconds: float, reply: Handler) -> Handler:
    """Wrap `reply` so that each request takes `seconds` on the fake clock."""

    def handle(request: httpx.Request) -> httpx.Response:
        clock.advance(seconds)
        return reply(request)

    return handle


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retry_transient_status(
    make_client: ClientFactory, clock: FakeClock, status: int
) -> None:
    upstream = ScriptedUpstream([respond(status, error_body("x", "busy")), GRANT_REPLY])
    client = make_client(upstream)

    grant = await client.get_grant("g-1")

    assert grant.id == "g-1"
    assert len(upstream.requests) == 2
    assert clock.sleeps == [0.25]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
async def test_no_retry_status(make_client: ClientFactory, clock: FakeClock, status: int) -> None:
    upstream = ScriptedUpstream([respond(status, error_body("x", "no")), GRANT_REPLY])
    client = make_client(upstream)

    with pytest.raises(NylasError):
        await client.get_grant("g-1")

    assert len(upstream.requests) == 1
    assert clock.sleeps == []


async def test_retry_stops_at_max_attempts(make_client: ClientFactory, clock: FakeClock) -> None:
    upstream = ScriptedUpstream([respond(503, error_body("x", "down"))])
    client = make_client(upstream)

    with pytest.raises(NylasUnavailable) as caught:
        await client.get_grant("g-1")

    assert len(upstream.requests) == 3
    assert clock.sleeps == [0.25, 0.5]
    assert caught.value.retry_after == 1.0


async def test_backoff_capped_at_max(make_client: ClientFactory, clock: FakeClock) -> None:
    upstream = ScriptedUpstream([respond(500, error_body("x", "down"))])
    client = make_client(upstream, retry=policy(max_attempts=6, budget=100, backoff_max=2.0))

    with pytest.raises(NylasUnavailable):
        await client.get_grant("g-1")

    assert clock.sleeps == [0.25, 0.5, 1.0, 1.0, 1.0]


async def test_retry_stops_at_budget(make_client: ClientFactory, clock: FakeClock) -> None:
    # Each request takes 8 s. After the second one, 16.25 s of the 20 s are spent and a third
    # still starts. After the third, no wait fits in the budget, although 10 attempts are allowed.
    failing = respond(503, error_body("x", "down"))
    upstream = ScriptedUpstream([slow(clock, 8.0, lambda request: failing.build())])
    client = make_client(upstream, retry=policy(max_attempts=10, budget=20.0))

    with pytest.raises(NylasUnavailable):
        await client.get_grant("g-1")

    assert len(upstream.requests) == 3
    assert clock.sleeps == [0.25, 0.5]


async def test_budget_stops_long_wait(make_client: ClientFactory, clock: FakeClock) -> None:
    failing = respond(503, error_body("x", "down"))
    upstream = ScriptedUpstream([slow(clock, 19.0, lambda request: failing.build())])
    client = make_client(upstream, retry=policy(max_attempts=10, budget=20.0, backoff_initial=2.0))

    with pytest.raises(NylasUnavailable) as caught:
        await client.get_grant("g-1")

    assert len(upstream.requests) == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 1.0


async def test_read_timeout_clipped_to_budget(make_client: ClientFactory, clock: FakeClock) -> None:
    failing = respond(503, error_body("x", "down"))
    upstream = ScriptedUpstream([slow(clock, 3.0, lambda request: failing.build()), GRANT_REPLY])
    client = make_client(upstream, retry=policy(budget=5.0))

    await client.get_grant("g-1")

    timeouts = [request.extensions["timeout"] for request in upstream.requests]
    assert timeouts[0] == {"connect": 3.0, "read": 5.0, "write": 5.0, "pool": 3.0}
    assert timeouts[1] == {"connect": 1.75, "read": 1.75, "write": 1.75, "pool": 1.75}


async def test_configured_timeouts_within_budget(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([GRANT_REPLY])
    client = make_client(upstream)

    await client.get_grant("g-1")

    assert upstream.requests[0].extensions["timeout"] == {
        "connect": 3.0,
        "read": 15.0,
        "write": 15.0,
        "pool": 3.0,
    }


async def test_budget_ends_slow_response(settings: Settings) -> None:
    # A real clock: the fake upstream never responds, and only the budget ends the attempt.
    async def never_responds(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    async with create_http_client(settings, transport=httpx.MockTransport(never_responds)) as http:
        client = NylasClient(
            http, api_key=StaticApiKey(SecretStr(API_KEY)), retry=policy(budget=0.2)
        )
        started = time.monotonic()
        with pytest.raises(NylasTimeout) as caught:
            await client.get_grant("g-1")

    assert time.monotonic() - started < 5.0
    assert "retry budget" in caught.value.detail


async def test_retry_after_seconds(make_client: ClientFactory, clock: FakeClock) -> None:
    upstream = ScriptedUpstream([RATE_LIMITED_RETRY_AFTER_2, GRANT_REPLY])
    client = make_client(upstream)

    await client.get_grant("g-1")

    assert len(upstream.requests) == 2
    assert clock.sleeps[0] >= 2.0


async def test_retry_after_http_date(make_client: ClientFactory, clock: FakeClock) -> None:
    now = 1_764_806_400
    headers = {
        "Date": formatdate(now, usegmt=True),
        "Retry-After": formatdate(now + 3, usegmt=True),
    }
    upstream = ScriptedUpstream(
        [respond(503, error_body("x", "busy"), headers=headers), GRANT_REPLY]
    )
    client = make_client(upstream)

    await client.get_grant("g-1")

    assert clock.sleeps == [3.0]


async def test_retry_after_date_without_date(make_client: ClientFactory, clock: FakeClock) -> None:
    headers = {"Retry-After": formatdate(time.time() + 10, usegmt=True)}
    upstream = ScriptedUpstream(
        [respond(429, error_body("x", "busy"), headers=headers), GRANT_REPLY]
    )
    client = make_client(upstream)

    await client.get_grant("g-1")

    assert 8.0 <= clock.sleeps[0] <= 10.0


async def test_retry_after_capped(make_client: ClientFactory, clock: FakeClock) -> None:
    headers = {"Retry-After": "25"}
    upstream = ScriptedUpstream(
        [respond(429, error_body("x", "busy"), headers=headers), GRANT_REPLY]
    )
    client = make_client(upstream, retry=policy(retry_after_cap=5.0))

    await client.get_grant("g-1")

    assert clock.sleeps == [5.0]


async def test_retry_after_shorter_than_backoff(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    headers = {"Retry-After": "0"}
    upstream = ScriptedUpstream(
        [respond(429, error_body("x", "busy"), headers=headers), GRANT_REPLY]
    )
    client = make_client(upstream)

    await client.get_grant("g-1")

    assert clock.sleeps == [0.25]


async def test_retry_after_beyond_budget(make_client: ClientFactory, clock: FakeClock) -> None:
    # The caller cannot wait 2 s within a 1.5 s budget: raise at once and pass the wait on.
    upstream = ScriptedUpstream([RATE_LIMITED_RETRY_AFTER_2, GRANT_REPLY])
    client = make_client(upstream, retry=policy(budget=1.5))

    with pytest.raises(NylasRateLimited) as caught:
        await client.get_grant("g-1")

    assert len(upstream.requests) == 1
    assert clock.sleeps == []
    assert caught.value.retry_after == 2.0
    assert caught.value.request_id == "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"


async def test_retry_after_beyond_cap_keeps_value(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    headers = {"Retry-After": "120"}
    upstream = ScriptedUpstream([respond(503, error_body("x", "busy"), headers=headers)])
    client = make_client(upstream)

    with pytest.raises(NylasUnavailable) as caught:
        await client.get_grant("g-1")

    assert clock.sleeps == []
    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.WriteTimeout("write timed out"),
        httpx.PoolTimeout("no free connection"),
    ],
)
async def test_timeout_retried(
    make_client: ClientFactory, clock: FakeClock, exception: Exception
) -> None:
    upstream = ScriptedUpstream([exception, GRANT_REPLY])
    client = make_client(upstream)

    grant = await client.get_grant("g-1")

    assert grant.id == "g-1"
    assert clock.sleeps == [0.25]


@pytest.mark.parametrize(
    "exception",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
    ],
)
async def test_connection_error_retried(
    make_client: ClientFactory, clock: FakeClock, exception: Exception
) -> None:
    upstream = ScriptedUpstream([exception, GRANT_REPLY])
    client = make_client(upstream)

    grant = await client.get_grant("g-1")

    assert grant.id == "g-1"
    assert clock.sleeps == [0.25]


async def test_timeout_exhausted(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([httpx.ReadTimeout("read timed out")])
    client = make_client(upstream)

    with pytest.raises(NylasTimeout) as caught:
        await client.get_grant("g-1")

    assert len(upstream.requests) == 3
    assert caught.value.status is None
    assert caught.value.detail == "ReadTimeout: read timed out"
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_connection_error_exhausted(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([httpx.ConnectError("connection refused")])
    client = make_client(upstream)

    with pytest.raises(NylasConnectionError) as caught:
        await client.get_grant("g-1")

    assert isinstance(caught.value, NylasUnavailable)
    assert len(upstream.requests) == 3
    assert caught.value.retry_after == 1.0


async def test_connect_custom_replays_body(make_client: ClientFactory) -> None:
    # The first response was lost. The repeat sends the same credentials, and Nylas returns
    # the same grant because it keeps one grant per mailbox.
    connected = respond(201, {"request_id": "r-2", "data": grant_json("g-same")})
    upstream = ScriptedUpstream([httpx.ReadTimeout("read timed out"), connected])
    client = make_client(upstream)

    result = await client.connect_custom(
        provider="google", settings={"refresh_token": SecretStr("rt-1")}
    )

    assert result.grant.id == "g-same"
    assert request_json(upstream.requests[0]) == request_json(upstream.requests[1])
    assert request_json(upstream.requests[1])["settings"] == {"refresh_token": "rt-1"}


def test_backoff_doubles_with_jitter() -> None:
    retry = policy(backoff_initial=1.0, backoff_max=6.0)

    assert [retry.backoff(attempt, 0.0) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert [retry.backoff(attempt, 0.999) for attempt in (1, 4)] == pytest.approx(
        [1.0, 6.0], abs=0.01
    )
    assert retry.backoff(1000, 0.0) == 3.0


@pytest.mark.parametrize(
    "changes",
    [
        {"max_attempts": 0},
        {"budget": 0},
        {"backoff_initial": -1},
        {"backoff_max": 0},
        {"retry_after_cap": 0},
    ],
)
def test_policy_rejects_invalid(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        policy(**changes)


def test_policy_from_settings(settings: Settings) -> None:
    retry = RetryPolicy.from_settings(settings)

    assert retry == RetryPolicy(max_attempts=3, budget=20.0, backoff_initial=0.5, backoff_max=8.0)
