"""Named leases in the `leases` table, so that exactly one replica runs a job at a time.

A replica acquires a lease with one conditional write: insert the row, or take it over when it
has expired (or already belongs to the replica). PostgreSQL's `INSERT ... ON CONFLICT DO UPDATE
... WHERE` locks the conflicting row and evaluates the condition on its latest committed
version, so of several replicas racing for one lease exactly one gets a row back. SQLite runs
one write transaction at a time, so the same statement is correct there too.

Expiry times come from each replica's own clock, so clocks must agree to well within the lease
TTL. A holder stops trusting its lease a quarter TTL before the expiry it last wrote, which
absorbs that much clock skew.
"""

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.status.models import Lease

log = structlog.get_logger(__name__)

WallClock = Callable[[], datetime]
MonotonicClock = Callable[[], float]

# A holder renews this many times per TTL, so one or two failed renewals do not lose the lease.
_RENEWALS_PER_TTL = 4
# Share of the TTL after the last successful renewal during which the holder trusts its lease.
_TRUSTED_SHARE_OF_TTL = 0.75


class LeaseLost(Exception):
    """The lease expired or another replica took it over, so the holder must stop its job."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"lease {name!r} is no longer held by {holder!r}; stop the job")


def new_replica_id() -> str:
    """Return an id for this process: host name and pid for operators, plus a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_acquire(
        self,
        name: str,
        *,
        holder: str,
        now: datetime,
        expires_at: datetime,
        renew_own: bool = True,
    ) -> bool:
        """Insert the lease, or take it over if it expired by `now`.

        Returns whether `holder` now holds it until `expires_at`. With `renew_own`, a lease
        that `holder` already holds is extended as well.
        """
        insert = _dialect_insert(self.session)
        statement = insert(Lease).values(name=name, holder=holder, expires_at=expires_at)
        takeover: ColumnElement[bool] = col(Lease.expires_at) <= now
        if renew_own:
            takeover = or_(takeover, col(Lease.holder) == holder)
        upsert = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
            where=takeover,
        ).returning(col(Lease.name))
        result = await self.session.exec(upsert)
        return result.first() is not None

    async def renew(self, name: str, *, holder: str, expires_at: datetime) -> bool:
        """Move the expiry of `holder`'s lease. Returns False when `holder` holds none."""
        statement = (
            update(Lease)
            .where(col(Lease.name) == name, col(Lease.holder) == holder)
            .values(expires_at=expires_at)
        )
        result = await self.session.exec(statement)
        return bool(result.rowcount)

    async def release(self, name: str, *, holder: str) -> None:
        statement = delete(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder)
        await self.session.exec(statement)

    async def get(self, name: str) -> Lease | None:
        return await self.session.get(Lease, name)


def _dialect_insert(session: AsyncSession) -> Callable[..., postgresql.Insert | sqlite.Insert]:
    dialect = session.bind.dialect.name if session.bind is not None else None
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"leases need PostgreSQL or SQLite, not {dialect}")


class DatabaseLease:
    """One named lease on the holder's side: acquire, keep renewed while working, release.

    Use `hold()` around the job and call `check()` before each step that must not run twice.
    A holder that crashes simply stops renewing, and another replica takes the lease over once
    `ttl` seconds have passed since the last renewal.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        name: str,
        holder: str,
        ttl: float,
        clock: WallClock = utc_now,
        monotonic: MonotonicClock = time.monotonic,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be greater than 0 seconds, got {ttl}")
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._monotonic = monotonic
        self._trusted_until = -float("inf")
        self._lost = False

    async def acquire(self) -> bool:
        """Take the lease unless another replica holds an unexpired one. Returns whether it is
        held."""
        started = self._monotonic()
        now = self._clock()
        async with self._sessionmaker() as session, session.begin():
            acquired = await LeaseRepository(session).try_acquire(
                self.name, holder=self.holder, now=now, expires_at=self._expiry(now)
            )

        if acquired:
            self._trust_from(started)
            log.debug("lease.acquired", lease=self.name, holder=self.holder, ttl=self.ttl)
        return acquired

    async def renew(self) -> bool:
        """Extend the lease by `ttl`. Returns False, and marks it lost, if it is no longer ours."""
        started = self._monotonic()
        async with self._sessionmaker() as session, session.begin():
            renewed = await LeaseRepository(session).renew(
                self.name, holder=self.holder, expires_at=self._expiry(self._clock())
            )

        if renewed:
            self._trust_from(started)
        else:
            self._lost = True
            log.error("lease.lost", lease=self.name, holder=self.holder)
        return renewed

    async def release(self) -> None:
        """Delete the lease row if it is still ours, so no replica waits out the TTL."""
        async with self._sessionmaker() as session, session.begin():
            await LeaseRepository(session).release(self.name, holder=self.holder)
        self._trusted_until = -float("inf")
        log.debug("lease.released", lease=self.name, holder=self.holder)

    def check(self) -> None:
        """Raise `LeaseLost` unless the lease is still safely held."""
        if self._lost or self._monotonic() > self._trusted_until:
            raise LeaseLost(self.name, self.holder)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[bool]:
        """Acquire the lease and keep renewing it until the block ends, then release it.

        Yields False, without waiting, when another replica holds the lease.
        """
        if not await self.acquire():
            yield False
            return

        heartbeat = asyncio.create_task(self._heartbeat(), name=f"lease-heartbeat:{self.name}")
        try:
            yield True
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self._release_after_use()

    async def _heartbeat(self) -> None:
        while not self._lost:
            await asyncio.sleep(self.ttl / _RENEWALS_PER_TTL)
            try:
                await self.renew()
            except (SQLAlchemyError, OSError) as exc:
                # The next beat tries again; `check()` fails once the trusted time runs out.
                log.warning(
                    "lease.renew_failed",
                    lease=self.name,
                    holder=self.holder,
                    error_type=type(exc).__name__,
                )

    async def _release_after_use(self) -> None:
        try:
            await self.release()
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "lease.release_failed",
                lease=self.name,
                holder=self.holder,
                error_type=type(exc).__name__,
                hint="the lease expires by itself after its TTL",
            )

    def _expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.ttl)

    def _trust_from(self, started: float) -> None:
        self._trusted_until = started + self.ttl * _TRUSTED_SHARE_OF_TTL
        self._lost = False
