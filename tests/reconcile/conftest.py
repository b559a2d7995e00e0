"""Fixtures for reconciliation tests: database access, a simulator on loopback, seeding."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.events.models import GrantEvent
from app.grants.models import Grant
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client
from app.reconcile.findings import FindingKind, ReconcileReport
from app.reconcile.reconciliation import ReconcileOptions, run_reconcile
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY
from tests.imports.commands import ServedSimulator, serve_simulator

# Fast enough that pacing never slows a test in which the rate is not the subject.
FAST_RATE = 1_000.0


@pytest.fixture
def fast_simulator() -> NylasSimulator:
    return NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=10_000)


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def served_simulator() -> Iterator[ServedSimulator]:
    with serve_simulator() as served:
        yield served


@asynccontextmanager
async def nylas_client(
    settings: Settings,
    simulator: NylasSimulator,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[NylasClient]:
    """A Nylas client on the simulator that makes one attempt per call."""
    retry = RetryPolicy(max_attempts=1, budget=5.0, backoff_initial=0.01, backoff_max=0.05)
    api_key = StaticApiKey(SecretStr(TEST_API_KEY))
    async with create_http_client(settings, transport=transport or simulator.transport()) as http:
        yield NylasClient(http, api_key=api_key, retry=retry)


async def reconcile(
    settings: Settings,
    simulator: NylasSimulator,
    *,
    apply: bool = False,
    delete_orphans: bool = False,
    min_orphan_age: float = 300.0,
) -> ReconcileReport:
    """Run a reconciliation against the simulator at `FAST_RATE`."""
    options = ReconcileOptions(
        apply=apply,
        delete_orphans=delete_orphans,
        requests_per_second=FAST_RATE,
        min_orphan_age=min_orphan_age,
    )
    return await run_reconcile(settings, options, nylas_transport=simulator.transport())


def grant_ids_of(report: ReconcileReport, kind: FindingKind) -> set[str]:
    return {finding.grant_id for finding in report.findings if finding.kind is kind}


async def stored_grants(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Grant]:
    """Return every record, by grant id."""
    async with sessionmaker() as session:
        grants = (await session.exec(select(Grant))).all()
    return {grant.grant_id: grant for grant in grants}


async def stored_events(sessionmaker: async_sessionmaker[AsyncSession]) -> list[GrantEvent]:
    async with sessionmaker() as session:
        return list((await session.exec(select(GrantEvent))).all())
