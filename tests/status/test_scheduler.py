"""The sweep scheduler: shared schedule across replicas, errors survived, retention cleanup."""

import asyncio
import io
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import utc_now
from app.events.models import EventType, GrantEvent
from app.grants.models import GrantStatus
from app.nylas.client import NylasClient
from app.simulator import NylasSimulator
from app.status.lease import LeaseRepository
from app.status.scheduler import SweepScheduler, clean_up_retention, run_sweep_once
from app.status.sweep import LEASE_NAME, SweepKind
from app.webhooks.models import WebhookDelivery
from tests.status.conftest import eventually, log_events, new_guard, seed_time, stored_grants
from tests.status.seeding import seed_records, seed_simulator


def _scheduler(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
    **overrides: object,
) -> SweepScheduler:
    values: dict[str, object] = {
        "sweep_invalid_interval": 60.0,
        "sweep_full_interval": 3600.0,
        "sweep_requests_per_second": 40.0,
        **overrides,
    }
    return SweepScheduler(
        settings.model_copy(update=values),
        sessionmaker=sessionmaker,
        nylas=nylas,
        guard=new_guard(),
    )


async def _seed(
    simulator: NylasSimulator, sessionmaker: async_sessionmaker[AsyncSession], count: int
) -> list[str]:
    grant_ids = seed_simulator(simulator, count, created_at=seed_time())
    await seed_records(sessionmaker, grant_ids, created_at=seed_time())
    return grant_ids


async def test_scheduler_runs_each_job_once(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 3)
    simulator.expire_grant(grant_ids[0])
    replicas = [_scheduler(settings, sessionmaker, nylas) for _ in range(3)]

    for replica in replicas:
        await replica.run_due_jobs()

    # Each sweep lists one page. The other replicas found both sweeps claimed until their
    # next run.
    assert simulator.call_count("list_grants") == 2
    assert set(replicas[0].last_results) == {SweepKind.FULL, SweepKind.INVALID}
    assert replicas[1].last_results == {}
    assert replicas[2].last_results == {}
    stored = await stored_grants(sessionmaker)
    assert stored[grant_ids[0]].grant_status == GrantStatus.INVALID


async def test_scheduler_repeats_after_interval(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
) -> None:
    first = _scheduler(settings, sessionmaker, nylas, sweep_invalid_interval=0.3)
    second = _scheduler(settings, sessionmaker, nylas, sweep_invalid_interval=0.3)
    await first.run_due_jobs()

    await asyncio.sleep(0.35)
    await second.run_due_jobs()

    assert set(second.last_results) == {SweepKind.INVALID}
    # The full sweep (hourly) ran once; the invalid one twice.
    invalid_listings = [
        request
        for request in simulator.recorded_requests("list_grants")
        if request.query.get("grant_status") == "invalid"
    ]
    assert len(invalid_listings) == 2
    assert simulator.call_count("list_grants") == 3


async def test_scheduler_survives_failure(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
    sweep_log: io.StringIO,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 2)
    simulator.expire_grant(grant_ids[1])
    # The full sweep and the first invalid sweep fail; the next invalid sweep succeeds.
    simulator.inject_fault(operation="list_grants", status=503, times=2)
    scheduler = _scheduler(settings, sessionmaker, nylas, sweep_invalid_interval=0.2)

    async def invalid_sweep_done() -> bool:
        return SweepKind.INVALID in scheduler.last_results

    scheduler.start()
    await eventually(invalid_sweep_done, seconds=10, what="an invalid sweep to succeed")
    await scheduler.stop()

    failures = log_events(sweep_log, "sweep.failed")
    assert [failure["kind"] for failure in failures] == ["full", "invalid"]
    assert failures[0]["nylas_status"] == 503
    stored = await stored_grants(sessionmaker)
    assert stored[grant_ids[1]].grant_status == GrantStatus.INVALID


async def test_scheduler_stop_releases_lease(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
) -> None:
    await _seed(simulator, sessionmaker, 1_000)
    # Two requests per second: the full sweep's five pages take over two seconds.
    scheduler = _scheduler(settings, sessionmaker, nylas, sweep_requests_per_second=2.0)

    async def sweep_under_way() -> bool:
        return simulator.call_count("list_grants") >= 2

    scheduler.start()
    await eventually(sweep_under_way, seconds=10, what="the second page request")
    await scheduler.stop()

    async with sessionmaker() as session:
        lease = await LeaseRepository(session).get(LEASE_NAME)
    assert lease is None
    assert SweepKind.FULL not in scheduler.last_results


async def test_retention_deletes_old_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = utc_now()
    old, recent = now - timedelta(days=8), now - timedelta(days=6)
    async with sessionmaker() as session, session.begin():
        for name, at in (("old", old), ("recent", recent)):
            session.add(
                GrantEvent(
                    type=EventType.INVALIDATED,
                    user_id=f"user-{name}",
                    grant_id=f"grant-{name}",
                    provider="google",
                    source="sweep",
                    occurred_at=at,
                )
            )
            session.add(
                WebhookDelivery(id=f"delivery-{name}", type="grant.expired", received_at=at)
            )

    deleted = await clean_up_retention(sessionmaker, retention=7 * 86_400.0)

    async with sessionmaker() as session:
        events = (await session.exec(select(GrantEvent.user_id))).all()
        deliveries = (await session.exec(select(WebhookDelivery.id))).all()
    assert deleted == (1, 1)
    assert list(events) == ["user-recent"]
    assert list(deliveries) == ["delivery-recent"]


async def test_scheduler_runs_retention(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
    sweep_log: io.StringIO,
) -> None:
    scheduler = _scheduler(settings, sessionmaker, nylas)

    await scheduler.run_due_jobs()
    await scheduler.run_due_jobs()

    assert len(log_events(sweep_log, "retention.cleaned_up")) == 1


async def test_sweep_once_with_client(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 2)
    simulator.delete_grant(grant_ids[0])

    result = await run_sweep_once(settings, full=True, nylas=nylas)

    assert result.kind == SweepKind.FULL
    assert result.changes == {EventType.DELETED: 1}
    assert set(await stored_grants(sessionmaker)) == {grant_ids[1]}


@pytest.mark.parametrize("full", [False, True])
async def test_sweep_once_skips_when_held(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    nylas: NylasClient,
    full: bool,
) -> None:
    now = utc_now()
    async with sessionmaker() as session, session.begin():
        await LeaseRepository(session).try_acquire(
            LEASE_NAME, holder="other-replica", now=now, expires_at=now + timedelta(minutes=2)
        )

    result = await run_sweep_once(settings, full=full, nylas=nylas)

    assert result.skipped_lease_held
    assert simulator.call_count("list_grants") == 0
