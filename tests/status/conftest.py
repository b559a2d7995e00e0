"""Fixtures for sweep tests: a session maker on the test database, a Nylas client bound to the
simulator that never retries, and sweepers built from them."""

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker, utc_now
from app.core.logging import configure_logging
from app.grants.models import Grant
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client
from app.simulator import NylasSimulator
from app.status.guard import MassInvalidationGuard
from app.status.sweep import StatusSweeper, SweepConfig
from tests.conftest import TEST_API_KEY

# Seeded grants and records date from a day ago, well before any sweep's observation time.
SEED_AGE = timedelta(days=1)

Hook = Callable[[int], Awaitable[None]]


class SweeperFactory(Protocol):
    def __call__(self, **config: Any) -> StatusSweeper: ...


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def single_attempt_client(
    settings: Settings, transport: httpx.AsyncBaseTransport
) -> tuple[httpx.AsyncClient, NylasClient]:
    """A Nylas client that makes one attempt per call, so a 429 fails the sweep instead of
    being retried out of sight."""
    http = create_http_client(settings, transport=transport)
    retry = RetryPolicy(max_attempts=1, budget=5.0, backoff_initial=0.01, backoff_max=0.05)
    return http, NylasClient(http, api_key=StaticApiKey(SecretStr(TEST_API_KEY)), retry=retry)


class HookedTransport(httpx.AsyncBaseTransport):
    """Send requests to the simulator, first awaiting `hook(n)` for the n-th request (from 1).

    Tests use the hook to change grants while a sweep is under way.
    """

    def __init__(self, simulator: NylasSimulator) -> None:
        self._inner = simulator.transport()
        self.hook: Hook | None = None
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.hook is not None:
            await self.hook(self.requests)
        return await self._inner.handle_async_request(request)


@pytest.fixture
def sweep_log(log_output: io.StringIO) -> io.StringIO:
    """Every log line of the test as JSON, with structlog routed as the service routes it."""
    configure_logging(level="DEBUG", json=True)
    return log_output


def log_events(output: io.StringIO, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if line.get("event") == event]


@pytest.fixture
def transport(simulator: NylasSimulator) -> HookedTransport:
    return HookedTransport(simulator)


@pytest.fixture
async def nylas(settings: Settings, transport: HookedTransport) -> AsyncIterator[NylasClient]:
    http, client = single_attempt_client(settings, transport)
    async with http:
        yield client


def new_guard() -> MassInvalidationGuard:
    return MassInvalidationGuard(share=0.2, window=900.0, min_grants=20)


@pytest.fixture
def make_sweeper(
    sessionmaker: async_sessionmaker[AsyncSession], nylas: NylasClient
) -> SweeperFactory:
    """Build sweepers on the test database; keyword arguments override `SweepConfig` fields."""

    def make(**config: Any) -> StatusSweeper:
        values: dict[str, Any] = {"requests_per_second": 40.0, "lease_ttl": 10.0, **config}
        return StatusSweeper(sessionmaker, nylas, new_guard(), SweepConfig(**values))

    return make


async def stored_grants(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Grant]:
    """Return every record, by grant id."""
    async with sessionmaker() as session:
        grants = (await session.exec(select(Grant))).all()
    return {grant.grant_id: grant for grant in grants}


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, seconds: float, what: str
) -> None:
    """Poll `condition` until it is true; fail the test, naming `what`, after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            # Polling, because the condition lives in another task or process with no event
            # to wait on.
            while not await condition():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out after {seconds} s waiting for {what}")


def seed_time() -> datetime:
    return utc_now() - SEED_AGE
