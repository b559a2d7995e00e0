"""PostgreSQL becoming unreachable in the middle of a request.

The broker reaches the database through `DatabaseProxy`, which a test cuts at a chosen moment:
while Nylas is handling the request, so that the Nylas side has happened and the database side
cannot. What each case must show is in docs/reliability.md.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from app.core.config import Settings
from app.core.database import create_engine
from app.grants.repository import GrantLookups
from app.simulator import NylasSimulator
from tests.reliability.conftest import running_broker, settings_for
from tests.reliability.dbproxy import DatabaseProxy
from tests.reliability.test_fault_matrix import (
    FIRST,
    USER,
    assert_events_match_record,
    grant_at_nylas,
    record_of,
    registration,
)

# Long enough to cut the database before Nylas sends its response.
NYLAS_LATENCY = 0.3
WAIT_SECONDS = 10.0


@pytest.fixture
async def proxy(fresh_postgres_url: str) -> AsyncIterator[DatabaseProxy]:
    url = make_url(fresh_postgres_url)
    proxy = DatabaseProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
def proxied_settings(fresh_postgres_url: str, proxy: DatabaseProxy) -> Settings:
    url = make_url(fresh_postgres_url).set(host="127.0.0.1", port=proxy.port)
    return settings_for(url.render_as_string(hide_password=False))


@pytest.fixture
async def broker(
    proxied_settings: Settings, simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_broker(proxied_settings, simulator) as http:
        yield http


async def cut_during_nylas_call(
    simulator: NylasSimulator,
    proxy: DatabaseProxy,
    operation: str,
    request: Awaitable[httpx.Response],
) -> httpx.Response:
    """Send `request`, cut the database once Nylas received `operation`, return the response."""
    simulator.inject_fault(operation=operation, latency=NYLAS_LATENCY, times=1)
    calls = simulator.call_count(operation)
    task = asyncio.ensure_future(request)
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            if simulator.call_count(operation) > calls:
                break
            await asyncio.sleep(0.005)
    proxy.cut()
    return await task


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
    assert response.json()["type"].endswith("/database-unavailable")
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_lookup_database_down_is_503(broker: httpx.AsyncClient, proxy: DatabaseProxy) -> None:
    await broker.post("/v1/grants", json=registration(FIRST))
    proxy.cut()

    response = await broker.get(f"/v1/users/{USER}/grant")

    assert_database_unavailable(response)
    proxy.restore()
    assert (await broker.get(f"/v1/users/{USER}/grant")).status_code == 200


async def test_register_database_down_after_mint(
    broker: httpx.AsyncClient, simulator: NylasSimulator, proxy: DatabaseProxy
) -> None:
    response = await cut_during_nylas_call(
        simulator, proxy, "connect_custom", broker.post("/v1/grants", json=registration(FIRST))
    )
    proxy.restore()

    assert_database_unavailable(response)
    assert await record_of(broker) is None
    orphan = grant_at_nylas(simulator, FIRST)
    assert orphan is not None
    await assert_events_match_record(broker)
    retry = await broker.post("/v1/grants", json=registration(FIRST))
    assert retry.status_code == 201
    assert retry.json()["grant_id"] == orphan


async def test_register_with_key_database_down(
    broker: httpx.AsyncClient, simulator: NylasSimulator, proxy: DatabaseProxy
) -> None:
    key = {"Idempotency-Key": "k-db-down"}
    request = broker.post("/v1/grants", json=registration(FIRST), headers=key)
    response = await cut_during_nylas_call(simulator, proxy, "connect_custom", request)
    proxy.restore()

    assert_database_unavailable(response)
    retry = await broker.post("/v1/grants", json=registration(FIRST), headers=key)
    # The claim could not be released while the database was down, so it blocks the key.
    # Once it is older than twice the retry budget, and at least 60 s, a retry takes it over.
    assert retry.status_code == 409
    assert retry.headers["retry-after"] == "1"
    fresh = await broker.post("/v1/grants", json=registration(FIRST))
    assert fresh.status_code == 201
    assert fresh.json()["grant_id"] == grant_at_nylas(simulator, FIRST)


async def test_offboard_database_down_after_delete(
    broker: httpx.AsyncClient, simulator: NylasSimulator, proxy: DatabaseProxy
) -> None:
    grant_id = (await broker.post("/v1/grants", json=registration(FIRST))).json()["grant_id"]

    response = await cut_during_nylas_call(
        simulator, proxy, "delete_grant", broker.delete(f"/v1/users/{USER}/grant")
    )
    proxy.restore()

    assert_database_unavailable(response)
    assert await record_of(broker) is not None
    assert grant_id not in simulator.grants
    await assert_events_match_record(broker)
    retry = await broker.delete(f"/v1/users/{USER}/grant")
    assert retry.status_code == 204
    assert await record_of(broker) is None
    await assert_events_match_record(broker)


async def test_lookup_survives_a_database_restart(
    broker: httpx.AsyncClient, proxy: DatabaseProxy
) -> None:
    await broker.post("/v1/grants", json=registration(FIRST))
    # Every pooled connection dies, and the database accepts new ones at once.
    proxy.cut()
    proxy.restore()

    response = await broker.get(f"/v1/users/{USER}/grant")

    assert response.status_code == 200
    assert response.json()["user_id"] == USER


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1


async def test_idle_connection_is_pinged_before_use(
    proxied_settings: Settings, proxy: DatabaseProxy
) -> None:
    engine = create_engine(proxied_settings.database_url, ping_idle_after=0.0)
    try:
        await _select_one(engine)
        proxy.cut()
        proxy.restore()

        await _select_one(engine)
    finally:
        await engine.dispose()


async def test_busy_connection_is_not_pinged(
    proxied_settings: Settings, proxy: DatabaseProxy
) -> None:
    # A connection back in the pool for less than `ping_idle_after` is used as it is: a restart
    # costs the statement in flight one failure, after which the pool has fresh connections.
    engine = create_engine(proxied_settings.database_url, ping_idle_after=3600.0)
    try:
        await _select_one(engine)
        proxy.cut()
        proxy.restore()

        with pytest.raises(DBAPIError) as failure:
            await _select_one(engine)
        assert failure.value.connection_invalidated
        await _select_one(engine)
    finally:
        await engine.dispose()


async def test_lookup_flood_leaves_half_the_pool(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url, pool_size=4)
    lookups = GrantLookups(engine, pool_size=4)
    try:
        rows = await asyncio.gather(*(lookups.by_user(f"u-{n}") for n in range(100)))

        assert rows == [None] * 100
        # The pool opens connections only when asked for more than it holds.
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.checkedin() == 2
    finally:
        await engine.dispose()
