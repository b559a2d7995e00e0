"""Sweeps over 10,000 grants while users and Nylas change grants underneath."""

import time

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.events.models import EventType
from app.grants.models import Grant, GrantStatus, StatusSource
from app.simulator import NylasSimulator
from app.status.sweep import SweepKind
from tests.status.conftest import HookedTransport, SweeperFactory, seed_time, stored_grants
from tests.status.seeding import seed_records, seed_simulator

GRANTS = 10_000
PAGE_SIZE = 200
REQUESTS_PER_SECOND = 40.0

# Positions in creation order, which is also the order of the oldest-first listing.
EXPIRED_BEFORE = [i for i in range(GRANTS) if i % 100 == 50]  # 1 %
DELETED_BEFORE = [i for i in range(GRANTS) if i % 500 == 7]
REREGISTERED_DURING = [9050, 9150, 9250, 9350, 9450]  # expired before, registered again during
EXPIRED_DURING_READ = [101, 102, 103, 104, 105]  # on pages already read
EXPIRED_DURING_UNREAD = [5001, 5002, 5003, 5004, 5005]
DELETED_DURING_READ = [201, 202, 203, 204, 205]
# The hook runs before this request: pages 0 to 9, grants 0 to 1,999, have been read.
CHANGE_AT_REQUEST = 11


async def _seed(
    simulator: NylasSimulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[str]:
    created_at = seed_time()
    grant_ids = seed_simulator(simulator, GRANTS, created_at=created_at)
    seed_simulator(simulator, 10, created_at=created_at, prefix="orphan")
    await seed_records(sessionmaker, grant_ids, created_at=created_at)
    for index in EXPIRED_BEFORE:
        simulator.expire_grant(grant_ids[index])
    for index in DELETED_BEFORE:
        simulator.delete_grant(grant_ids[index])
    return grant_ids


async def _reregister(sessionmaker: async_sessionmaker[AsyncSession], grant_id: str) -> None:
    now = utc_now()
    async with sessionmaker() as session, session.begin():
        await session.exec(
            update(Grant)
            .where(col(Grant.grant_id) == grant_id)
            .values(
                grant_status=GrantStatus.VALID,
                status_source=StatusSource.REGISTRATION,
                status_checked_at=now,
                updated_at=now,
            )
        )


async def test_sweeps_10k_with_changes(
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    make_sweeper: SweeperFactory,
    transport: HookedTransport,
) -> None:
    grant_ids = await _seed(simulator, sessionmaker)
    fresh = [f"registered-during-{i}" for i in range(3)]
    sweeper = make_sweeper(requests_per_second=REQUESTS_PER_SECOND)

    invalid_sweep = await sweeper.run(SweepKind.INVALID)

    # 100 invalid grants fit one page of 200, so one call covers 10,000 grants.
    assert invalid_sweep is not None
    assert invalid_sweep.nylas_calls == 1
    assert invalid_sweep.changes == {EventType.INVALIDATED: len(EXPIRED_BEFORE)}

    async def change_grants(request_number: int) -> None:
        if request_number != CHANGE_AT_REQUEST:
            return
        for index in EXPIRED_DURING_READ + EXPIRED_DURING_UNREAD:
            simulator.expire_grant(grant_ids[index])
        for index in DELETED_DURING_READ:
            simulator.delete_grant(grant_ids[index])
        for index in REREGISTERED_DURING:
            await _reregister(sessionmaker, grant_ids[index])
        await seed_records(sessionmaker, fresh, created_at=utc_now(), prefix="fresh")

    # The transport counts requests from 1 again for the full sweep.
    transport.requests = 0
    transport.hook = change_grants
    simulator_calls_before = sum(simulator.call_counts().values())
    started = time.monotonic()
    full_sweep = await sweeper.run(SweepKind.FULL)
    elapsed = time.monotonic() - started

    stored = await stored_grants(sessionmaker)
    invalid = {gid for gid, grant in stored.items() if grant.grant_status == GrantStatus.INVALID}
    deleted = {grant_ids[i] for i in DELETED_BEFORE}
    expected_invalid = {grant_ids[i] for i in EXPIRED_BEFORE if i not in REREGISTERED_DURING} | {
        grant_ids[i] for i in EXPIRED_DURING_UNREAD
    }
    assert full_sweep is not None
    assert set(stored) == (set(grant_ids) - deleted) | set(fresh)
    assert invalid == expected_invalid
    assert full_sweep.changes == {
        EventType.DELETED: len(DELETED_BEFORE),
        EventType.INVALIDATED: len(EXPIRED_DURING_UNREAD),
    }
    assert full_sweep.unknown_at_nylas == 10

    # Every page plus one lookup per grant missing from the listing: the deleted ones and
    # those skipped because deletions during the walk shifted the offsets.
    listed = GRANTS + 10 - len(DELETED_BEFORE) - len(DELETED_DURING_READ)
    assert full_sweep.pages == listed // PAGE_SIZE + 1
    assert simulator.call_count("get_grant") == len(DELETED_BEFORE) + len(DELETED_DURING_READ)
    # The simulator received exactly the calls the sweep paced, so none was retried after a
    # 429, and the calls fit the budget over the sweep's duration.
    simulator_calls = sum(simulator.call_counts().values()) - simulator_calls_before
    assert simulator_calls == full_sweep.nylas_calls
    assert full_sweep.nylas_calls <= REQUESTS_PER_SECOND * elapsed + 1
