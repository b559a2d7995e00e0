"""The sweep lease: exclusive, renewed while held, taken over once a crashed holder's expires."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import create_engine, create_sessionmaker, utc_now
from app.status.lease import DatabaseLease, LeaseLost, LeaseRepository

NAME = "test-lease"


class ShiftedClock:
    """The wall clock moved `offset` ahead, as another replica would see time later on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset


def _lease(
    sessionmaker: async_sessionmaker[AsyncSession],
    holder: str,
    *,
    ttl: float = 30.0,
    **kwargs: object,
) -> DatabaseLease:
    return DatabaseLease(sessionmaker, name=NAME, holder=holder, ttl=ttl, **kwargs)  # type: ignore[arg-type]


async def test_lease_exclusive(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    first = _lease(sessionmaker, "replica-a")
    second = _lease(sessionmaker, "replica-b")

    assert await first.acquire()
    assert not await second.acquire()
    # The holder may acquire again, which extends its lease.
    assert await first.acquire()


async def test_lease_release_frees(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    first = _lease(sessionmaker, "replica-a")
    second = _lease(sessionmaker, "replica-b")
    await first.acquire()

    await first.release()

    assert await second.acquire()
    with pytest.raises(LeaseLost):
        first.check()


async def test_lease_expired_taken_over(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    later = ShiftedClock()
    crashed = _lease(sessionmaker, "crashed-replica", ttl=30.0)
    successor = _lease(sessionmaker, "replica-b", ttl=30.0, clock=later)
    assert await crashed.acquire()

    later.offset = timedelta(seconds=29)
    taken_early = await successor.acquire()
    later.offset = timedelta(seconds=31)
    taken_after_expiry = await successor.acquire()

    assert not taken_early
    assert taken_after_expiry
    # A holder that comes back after the takeover learns that it lost the lease.
    assert not await crashed.renew()
    with pytest.raises(LeaseLost):
        crashed.check()


async def test_lease_trust_runs_out(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    monotonic_now = [1000.0]
    lease = _lease(sessionmaker, "replica-a", ttl=40.0, monotonic=lambda: monotonic_now[0])
    await lease.acquire()

    monotonic_now[0] += 29.0
    lease.check()
    # Without a renewal, the holder stops trusting its lease a quarter TTL before expiry.
    monotonic_now[0] += 2.0
    with pytest.raises(LeaseLost):
        lease.check()


async def test_lease_heartbeat_renews(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    holder = _lease(sessionmaker, "replica-a", ttl=0.4)
    other = _lease(sessionmaker, "replica-b", ttl=0.4)

    async with holder.hold() as held:
        await asyncio.sleep(1.0)
        taken_while_held = await other.acquire()
        holder.check()

    assert held
    assert not taken_while_held
    assert await other.acquire()


async def test_lease_hold_when_taken(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await _lease(sessionmaker, "replica-a").acquire()

    async with _lease(sessionmaker, "replica-b").hold() as held:
        pass

    assert not held
    async with sessionmaker() as session:
        row = await LeaseRepository(session).get(NAME)
    assert row is not None
    assert row.holder == "replica-a"


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[async_sessionmaker[AsyncSession]]]:
    """Eight session makers with engines of their own, as eight replicas would have."""
    created = [create_engine(database_url) for _ in range(8)]
    yield [create_sessionmaker(engine) for engine in created]
    for engine in created:
        await engine.dispose()


async def test_lease_race_one_winner(engines: list[async_sessionmaker[AsyncSession]]) -> None:
    for round_number in range(5):
        name = f"race-{round_number}"
        leases = [
            DatabaseLease(maker, name=name, holder=f"replica-{index}", ttl=30.0)
            for index, maker in enumerate(engines)
        ]

        won = await asyncio.gather(*(lease.acquire() for lease in leases))

        assert won.count(True) == 1, f"round {round_number}: {won}"


async def test_lease_race_after_expiry(engines: list[async_sessionmaker[AsyncSession]]) -> None:
    later = ShiftedClock()
    crashed = DatabaseLease(engines[0], name=NAME, holder="crashed", ttl=5.0)
    await crashed.acquire()
    later.offset = timedelta(seconds=6)
    successors = [
        DatabaseLease(maker, name=NAME, holder=f"replica-{index}", ttl=30.0, clock=later)
        for index, maker in enumerate(engines[1:])
    ]

    won = await asyncio.gather(*(lease.acquire() for lease in successors))

    assert won.count(True) == 1


async def test_slot_claim_not_renewed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = utc_now()

    async def claim(at: datetime) -> bool:
        async with sessionmaker() as session, session.begin():
            return await LeaseRepository(session).try_acquire(
                "job",
                holder="replica-a",
                now=at,
                expires_at=at + timedelta(seconds=60),
                renew_own=False,
            )

    assert await claim(now)
    # Without `renew_own`, even the holder waits until the row expires.
    assert not await claim(now + timedelta(seconds=30))
    assert await claim(now + timedelta(seconds=60))
