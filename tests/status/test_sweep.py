"""Invalid and full sweeps against the simulator, on SQLite and PostgreSQL."""

import asyncio
import io
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.events.models import EventType, GrantEvent
from app.grants.models import Grant, GrantStatus, StatusSource
from app.simulator import NylasSimulator
from app.status.lease import DatabaseLease
from app.status.sweep import LEASE_NAME, SweepFailed, SweepKind
from tests.status.conftest import (
    HookedTransport,
    SweeperFactory,
    log_events,
    seed_time,
    stored_grants,
)
from tests.status.seeding import seed_records, seed_simulator


async def _seed(
    simulator: NylasSimulator, sessionmaker: async_sessionmaker[AsyncSession], count: int
) -> list[str]:
    created_at = seed_time()
    grant_ids = seed_simulator(simulator, count, created_at=created_at)
    await seed_records(sessionmaker, grant_ids, created_at=created_at)
    return grant_ids


async def _events(sessionmaker: async_sessionmaker[AsyncSession]) -> list[GrantEvent]:
    async with sessionmaker() as session:
        return list((await session.exec(select(GrantEvent).order_by(col(GrantEvent.id)))).all())


async def test_invalid_sweep_invalidates_expired(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 5)
    simulator.expire_grant(grant_ids[1])
    simulator.expire_grant(grant_ids[3])

    result = await make_sweeper().run(SweepKind.INVALID)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert [gid for gid in grant_ids if stored[gid].grant_status == GrantStatus.INVALID] == [
        grant_ids[1],
        grant_ids[3],
    ]
    assert stored[grant_ids[1]].status_source == StatusSource.SWEEP
    assert result.changes == {EventType.INVALIDATED: 2}
    events = await _events(sessionmaker)
    assert sorted(event.grant_id for event in events) == sorted([grant_ids[1], grant_ids[3]])
    assert {event.source for event in events} == {StatusSource.SWEEP}


async def test_invalid_sweep_lists_only_invalid(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 450)
    for grant_id in grant_ids[:200]:
        simulator.expire_grant(grant_id)

    result = await make_sweeper().run(SweepKind.INVALID)

    # 200 invalid grants fill one page exactly, so a second, empty page ends the listing.
    assert result is not None
    assert result.pages == 2
    assert result.nylas_calls == 2
    assert simulator.call_count("list_grants") == 2
    assert simulator.call_count("get_grant") == 0
    assert result.grants_seen == 200
    assert all(
        request.query.get("grant_status") == "invalid"
        for request in simulator.recorded_requests("list_grants")
    )


async def test_invalid_sweep_leaves_revalidation(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    created_at = seed_time()
    grant_ids = seed_simulator(simulator, 2, created_at=created_at)
    await seed_records(sessionmaker, grant_ids, created_at=created_at, status=GrantStatus.INVALID)

    result = await make_sweeper().run(SweepKind.INVALID)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert result.changes == {}
    assert stored[grant_ids[0]].grant_status == GrantStatus.INVALID


async def test_full_sweep_applies_every_change(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    created_at = seed_time()
    grant_ids = seed_simulator(simulator, 6, created_at=created_at)
    await seed_records(sessionmaker, grant_ids[:4], created_at=created_at)
    await seed_records(
        sessionmaker,
        grant_ids[4:],
        created_at=created_at,
        prefix="was-invalid",
        status=GrantStatus.INVALID,
    )
    simulator.expire_grant(grant_ids[0])
    simulator.delete_grant(grant_ids[1])

    result = await make_sweeper().run(SweepKind.FULL)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert stored[grant_ids[0]].grant_status == GrantStatus.INVALID
    assert grant_ids[1] not in stored
    assert stored[grant_ids[2]].grant_status == GrantStatus.VALID
    assert stored[grant_ids[4]].grant_status == GrantStatus.VALID
    assert stored[grant_ids[5]].grant_status == GrantStatus.VALID
    assert result.changes == {
        EventType.INVALIDATED: 1,
        EventType.DELETED: 1,
        EventType.REVALIDATED: 2,
    }
    # One listing page, and one lookup to confirm the deletion.
    assert result.nylas_calls == 2
    assert simulator.call_count("get_grant") == 1


async def test_full_sweep_reports_unknown_grants(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    sweep_log: io.StringIO,
) -> None:
    created_at = seed_time()
    held = seed_simulator(simulator, 3, created_at=created_at)
    orphans = seed_simulator(simulator, 2, created_at=created_at, prefix="orphan")
    await seed_records(sessionmaker, held, created_at=created_at)

    result = await make_sweeper().run(SweepKind.FULL)

    assert result is not None
    assert result.unknown_at_nylas == 2
    assert set(simulator.grants) == {*held, *orphans}
    assert simulator.call_count("delete_grant") == 0
    [report] = log_events(sweep_log, "sweep.unknown_grants")
    assert report["count"] == 2
    assert sorted(report["grant_ids"]) == sorted(orphans)


async def test_full_sweep_ignores_fresh_unknown(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    # A grant minted a moment ago may belong to a registration that has not committed yet.
    seed_simulator(simulator, 1, created_at=utc_now(), prefix="in-flight")

    result = await make_sweeper(listing_lag=60.0).run(SweepKind.FULL)

    assert result is not None
    assert result.unknown_at_nylas == 0


async def test_reregistration_during_sweep_kept(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    transport: HookedTransport,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 3)
    simulator.expire_grant(grant_ids[0])
    simulator.expire_grant(grant_ids[1])

    async def reregister(request_number: int) -> None:
        # The user registers again while the sweep runs. The listing still shows the grant
        # invalid, as Nylas's listings lag fresh changes.
        if request_number != 1:
            return
        now = utc_now()
        async with sessionmaker() as session, session.begin():
            await session.exec(
                update(Grant)
                .where(col(Grant.grant_id) == grant_ids[0])
                .values(
                    grant_status=GrantStatus.VALID,
                    status_source=StatusSource.REGISTRATION,
                    status_checked_at=now,
                    updated_at=now,
                )
            )

    transport.hook = reregister
    result = await make_sweeper().run(SweepKind.INVALID)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert stored[grant_ids[0]].grant_status == GrantStatus.VALID
    assert stored[grant_ids[1]].grant_status == GrantStatus.INVALID


async def test_full_sweep_keeps_new_records(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    transport: HookedTransport,
) -> None:
    await _seed(simulator, sessionmaker, 2)

    async def register(request_number: int) -> None:
        # A registration commits its record during the sweep, for a grant the listing has
        # not shown yet.
        if request_number == 1:
            await seed_records(
                sessionmaker, ["minted-during-sweep"], created_at=utc_now(), prefix="new"
            )

    transport.hook = register
    result = await make_sweeper().run(SweepKind.FULL)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert "minted-during-sweep" in stored
    assert simulator.call_count("get_grant") == 0


async def test_full_sweep_confirms_before_deleting(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    transport: HookedTransport,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 450)
    # Sorted oldest first, the listing is in creation order: these are on the first page.
    deleted = grant_ids[:2]

    async def delete_early_grants(request_number: int) -> None:
        # Deleting two grants of the first page after it was read shifts every later grant
        # two places towards the start, so the second page skips two grants that still exist.
        if request_number == 2:
            for grant_id in deleted:
                simulator.delete_grant(grant_id)

    transport.hook = delete_early_grants
    first = await make_sweeper().run(SweepKind.FULL)

    assert first is not None
    assert set(await stored_grants(sessionmaker)) == set(grant_ids)
    assert first.changes == {}
    # The two skipped grants were looked up and found.
    assert simulator.call_count("get_grant") == 2

    transport.hook = None
    second = await make_sweeper().run(SweepKind.FULL)

    assert second is not None
    assert set(await stored_grants(sessionmaker)) == set(grant_ids) - set(deleted)
    assert second.changes == {EventType.DELETED: 2}


async def test_full_sweep_caps_deletion_checks(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 10)
    for grant_id in grant_ids[:5]:
        simulator.delete_grant(grant_id)

    result = await make_sweeper(max_deletion_checks=3, mass_deletion_share=1.0).run(SweepKind.FULL)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert result.changes == {EventType.DELETED: 3}
    assert result.deletions_deferred == 2
    assert len(stored) == 7
    assert simulator.call_count("get_grant") == 3


async def test_full_sweep_stops_mass_deletion(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    sweep_log: io.StringIO,
) -> None:
    # Records of another Nylas application: none of them is listed.
    await seed_records(sessionmaker, [f"other-app-{i}" for i in range(30)], created_at=seed_time())

    result = await make_sweeper().run(SweepKind.FULL)

    stored = await stored_grants(sessionmaker)
    assert result is not None
    assert len(stored) == 30
    assert result.deletions_deferred == 30
    assert simulator.call_count("get_grant") == 0
    assert len(log_events(sweep_log, "sweep.mass_deletion_suspected")) == 1


async def test_sweep_skipped_while_lease_held(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    other = DatabaseLease(sessionmaker, name=LEASE_NAME, holder="other-replica", ttl=30.0)
    assert await other.acquire()

    result = await make_sweeper().run(SweepKind.FULL)

    assert result is not None
    assert result.skipped_lease_held
    assert simulator.call_count("list_grants") == 0


async def test_sweep_failure_keeps_progress(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 250)
    simulator.expire_grant(grant_ids[0])
    # The first page succeeds, the second fails.
    simulator.inject_fault(operation="list_grants", latency=0.001, times=1)
    simulator.inject_fault(operation="list_grants", status=503, times=1)
    sweeper = make_sweeper()

    with pytest.raises(SweepFailed) as failure:
        await sweeper.run(SweepKind.FULL)

    stored = await stored_grants(sessionmaker)
    assert failure.value.result.pages == 1
    assert stored[grant_ids[0]].grant_status == GrantStatus.INVALID
    # The lease was released, so the next sweep can start at once.
    assert await sweeper.lease.acquire()


async def test_sweep_observation_time(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker, 1)
    simulator.expire_grant(grant_ids[0])
    before = utc_now()

    await make_sweeper(listing_lag=45.0).run(SweepKind.INVALID)

    stored = await stored_grants(sessionmaker)
    checked_at = stored[grant_ids[0]].status_checked_at
    assert before - timedelta(seconds=45) <= checked_at <= utc_now() - timedelta(seconds=45)


async def test_sweeper_one_run_at_a_time(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
) -> None:
    await _seed(simulator, sessionmaker, 600)
    sweeper = make_sweeper()

    results = await asyncio.gather(sweeper.run(SweepKind.FULL), sweeper.run(SweepKind.FULL))

    assert [result.skipped_lease_held for result in results if result is not None] == [
        False,
        True,
    ]
    assert simulator.call_count("list_grants") == 4
