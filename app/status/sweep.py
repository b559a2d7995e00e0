"""Status sweeps: learn grant status changes from Nylas's grant listing, a page at a time.

Nylas advises against polling `GET /v3/grants/{id}` per grant to detect expiry, because each
call counts against the application's rate limit. Sweeps read `GET /v3/grants` (200
grants per request) instead:

- the invalid sweep lists only invalid grants (`grant_status=invalid`), which are few, and
  invalidates the records still stored as valid;
- the full sweep lists every grant, fixes status mismatches in both directions, removes records
  whose grant no longer exists at Nylas and reports grants that no user holds.

Each page is compared with the database at once, so only the set of listed grant ids stays in
memory. One replica sweeps at a time (`DatabaseLease`), and a `RequestPacer` spaces every Nylas
call of a sweep.

Nylas's listings lag fresh changes by tens of seconds, so every observation of a sweep is
dated `sweep_listing_lag` before the sweep started. `StatusService` ignores observations older
than a record's `status_checked_at`, so a registration or webhook that lands during the sweep
is never overwritten, and records created after that time are never treated as deleted.
"""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import utc_now
from app.grants.models import Grant, GrantStatus, StatusSource
from app.nylas.client import MAX_PAGE_SIZE, NylasClient
from app.nylas.errors import NylasNotFound
from app.nylas.models import NylasGrant
from app.status.budget import RequestPacer
from app.status.guard import MassInvalidationGuard
from app.status.lease import DatabaseLease, new_replica_id
from app.status.service import Observation, StatusService

log = structlog.get_logger(__name__)

LEASE_NAME = "status-sweep"

# Records read from the database per query when looking for grants missing at Nylas.
_RECORD_BATCH_SIZE = 1_000
# Observations applied per transaction.
_APPLY_BATCH_SIZE = 200
# Grant ids of unknown grants written to the log. The logged count covers all of them.
_MAX_LOGGED_UNKNOWN_IDS = 100


class SweepKind(StrEnum):
    INVALID = "invalid"
    FULL = "full"


@dataclass(frozen=True)
class SweepConfig:
    """Limits of a sweep. Durations are in seconds."""

    requests_per_second: float = 10.0
    listing_lag: float = 60.0
    lease_ttl: float = 120.0
    page_size: int = MAX_PAGE_SIZE
    # Each record missing from the listing costs one `GET /v3/grants/{id}` before it is
    # removed. Past this many lookups in one sweep, the rest wait for the next full sweep.
    max_deletion_checks: int = 1_000
    # When this share of the records (and at least `mass_deletion_min_records` of them) is
    # missing from the listing, the API key most likely belongs to another Nylas application
    # than the one that issued the grants, so nothing is removed.
    mass_deletion_share: float = 0.2
    mass_deletion_min_records: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> "SweepConfig":
        return cls(
            requests_per_second=settings.sweep_requests_per_second,
            listing_lag=settings.sweep_listing_lag,
            lease_ttl=settings.sweep_lease_ttl,
        )


@dataclass
class SweepResult:
    """Figures of one sweep, for logs and metrics. `duration` is in seconds."""

    kind: SweepKind
    started_at: datetime
    duration: float = 0.0
    pages: int = 0
    nylas_calls: int = 0
    grants_seen: int = 0
    # Changes made, by event type (`grant.invalidated`, `grant.revalidated`, `grant.deleted`).
    changes: Counter[str] = field(default_factory=Counter)
    # Grants at Nylas that no user holds. They are reported, never deleted.
    unknown_at_nylas: int = 0
    # Records missing from the listing that this sweep left for the next full sweep.
    deletions_deferred: int = 0
    # Another replica held the sweep lease, so this sweep did nothing.
    skipped_lease_held: bool = False

    def log_fields(self) -> dict[str, object]:
        return {
            "kind": str(self.kind),
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration, 3),
            "pages": self.pages,
            "nylas_calls": self.nylas_calls,
            "grants_seen": self.grants_seen,
            "changes": dict(self.changes),
            "unknown_at_nylas": self.unknown_at_nylas,
            "deletions_deferred": self.deletions_deferred,
            "skipped_lease_held": self.skipped_lease_held,
        }


class SweepFailed(Exception):
    """A sweep that stopped early. `result` contains what it did before, `__cause__` the reason."""

    def __init__(self, result: SweepResult) -> None:
        self.result = result
        super().__init__(f"the {result.kind} status sweep failed after {result.pages} pages")


# Called with the lease held, before the sweep starts. False skips the sweep.
DueCheck = Callable[[], Awaitable[bool]]


class StatusSweeper:
    """Runs sweeps against one Nylas application and one database, one at a time per lease."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        nylas: NylasClient,
        guard: MassInvalidationGuard,
        config: SweepConfig | None = None,
        *,
        replica_id: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.nylas = nylas
        self.guard = guard
        self.config = config or SweepConfig()
        self.lease = DatabaseLease(
            sessionmaker,
            name=LEASE_NAME,
            holder=replica_id or new_replica_id(),
            ttl=self.config.lease_ttl,
        )
        self._running = asyncio.Lock()

    async def run(self, kind: SweepKind, *, due: DueCheck | None = None) -> SweepResult | None:
        """Sweep once if this replica gets the lease (and `due` agrees); return the figures.

        Returns a result with `skipped_lease_held` when another replica is sweeping, and None
        when `due` declined. Raises `SweepFailed` when the sweep stops early.
        """
        # The lease admits its holder again, so two runs of this sweeper at once would both
        # get it. The lock keeps them apart.
        if self._running.locked():
            return self._skipped(kind)
        async with self._running, self.lease.hold() as held:
            if not held:
                return self._skipped(kind)
            if due is not None and not await due():
                return None
            return await self._sweep(kind)

    def _skipped(self, kind: SweepKind) -> SweepResult:
        log.info("sweep.skipped", kind=str(kind), reason="lease_held")
        return SweepResult(kind, utc_now(), skipped_lease_held=True)

    async def _sweep(self, kind: SweepKind) -> SweepResult:
        run = _SweepRun(self, kind)
        log.info("sweep.started", kind=str(kind), observed_at=run.observed_at.isoformat())
        try:
            if kind is SweepKind.FULL:
                await _FullSweep(run).execute()
            else:
                await _sweep_invalid(run)
        except Exception as exc:
            run.finish()
            raise SweepFailed(run.result) from exc

        run.finish()
        log.info("sweep.finished", **run.result.log_fields())
        return run.result


class _SweepRun:
    """The state of one sweep: its budget, observation time, figures and database access."""

    def __init__(self, sweeper: StatusSweeper, kind: SweepKind) -> None:
        self.sweeper = sweeper
        self.config = sweeper.config
        self.pacer = RequestPacer(self.config.requests_per_second)
        self.result = SweepResult(kind, utc_now())
        self.observed_at = self.result.started_at - timedelta(seconds=self.config.listing_lag)
        self._started = time.monotonic()

    async def pages(
        self,
        *,
        grant_status: Literal["valid", "invalid"] | None = None,
        sort_by: Literal["created_at", "updated_at"] | None = None,
        order_by: Literal["asc", "desc"] | None = None,
    ) -> AsyncIterator[list[NylasGrant]]:
        """Yield the listing page by page. Nylas pages by offset: the last page is short."""
        offset = 0
        while True:
            await self._before_call()
            page = await self.sweeper.nylas.list_grants(
                limit=self.config.page_size,
                offset=offset,
                grant_status=grant_status,
                sort_by=sort_by,
                order_by=order_by,
            )
            self.result.pages += 1
            self.result.grants_seen += len(page.data)
            yield page.data

            if len(page.data) < self.config.page_size:
                return
            offset += len(page.data)

    async def observe_at_nylas(self, grant_id: str) -> Observation:
        """Look one grant up at Nylas. A 404 becomes an observation of its deletion."""
        await self._before_call()
        try:
            grant = await self.sweeper.nylas.get_grant(grant_id)
        except NylasNotFound:
            return self.observe(grant_id, None)
        return self.observe(grant_id, GrantStatus(grant.grant_status))

    def observe(self, grant_id: str, status: GrantStatus | None) -> Observation:
        return Observation(grant_id, status, StatusSource.SWEEP, self.observed_at)

    async def stored_statuses(self, grant_ids: Sequence[str]) -> dict[str, GrantStatus]:
        """Return the stored status of each of `grant_ids` that a user holds."""
        statement = select(Grant.grant_id, Grant.grant_status).where(
            col(Grant.grant_id).in_(list(grant_ids))
        )
        async with self.sweeper.sessionmaker() as session:
            rows = (await session.exec(statement)).all()
        return {grant_id: GrantStatus(status) for grant_id, status in rows}

    async def stored_grant_ids(self) -> AsyncIterator[list[str]]:
        """Yield, in batches, the grant id of every record created before the observation time."""
        after_id = 0
        while True:
            statement = (
                select(Grant.id, Grant.grant_id)
                .where(col(Grant.id) > after_id, col(Grant.created_at) <= self.observed_at)
                .order_by(col(Grant.id))
                .limit(_RECORD_BATCH_SIZE)
            )
            async with self.sweeper.sessionmaker() as session:
                rows = (await session.exec(statement)).all()
            if not rows:
                return
            yield [grant_id for _, grant_id in rows]
            after_id = rows[-1][0] or after_id

    async def apply(self, observations: Sequence[Observation]) -> None:
        """Apply observations in one transaction, then let the guard look at the changes."""
        if not observations:
            return
        self.sweeper.lease.check()

        async with self.sweeper.sessionmaker() as session:
            changes = await StatusService(session).apply(observations)
            await self.sweeper.guard.check(session, changes)
        self.result.changes.update(str(change.event_type) for change in changes)

    def finish(self) -> None:
        self.result.duration = time.monotonic() - self._started
        self.result.nylas_calls = self.pacer.requests

    async def _before_call(self) -> None:
        # A replica that lost its lease stops before spending more of the shared budget.
        self.sweeper.lease.check()
        # NOTE: the pacer spaces the sweep's calls, not the Nylas client's retries inside a
        # call. A retry after a 429 or 5xx waits out the client's backoff instead, so a failing
        # call can send one or two requests more than the budget within a second.
        await self.pacer.wait()


async def _sweep_invalid(run: _SweepRun) -> None:
    """Invalidate every record whose grant Nylas lists as invalid.

    Records stored as invalid that Nylas no longer lists are left to the full sweep, because
    the filtered listing may lag a re-authentication.
    """
    async for page in run.pages(grant_status="invalid"):
        stored = await run.stored_statuses([grant.id for grant in page])
        observations = [
            run.observe(grant.id, GrantStatus.INVALID)
            for grant in page
            if stored.get(grant.id) == GrantStatus.VALID
        ]
        await run.apply(observations)


class _FullSweep:
    """Compare every grant at Nylas with the records, then deal with the records not listed."""

    def __init__(self, run: _SweepRun) -> None:
        self.run = run
        self.listed: set[str] = set()
        self.unknown_ids: list[str] = []
        self._observed_unix = int(run.observed_at.timestamp())

    async def execute(self) -> None:
        # Oldest first, so grants created during the walk are appended after the pages already
        # read instead of shifting them.
        async for page in self.run.pages(sort_by="created_at", order_by="asc"):
            await self._compare(page)
        self._report_unknown()
        await self._remove_missing()

    async def _compare(self, page: list[NylasGrant]) -> None:
        stored = await self.run.stored_statuses([grant.id for grant in page])
        observations: list[Observation] = []
        for grant in page:
            # Offset paging repeats a grant when one is created before it during the walk.
            if grant.id in self.listed:
                continue
            self.listed.add(grant.id)
            status = stored.get(grant.id)
            if status is None:
                self._note_unknown(grant)
            elif status != grant.grant_status:
                observations.append(self.run.observe(grant.id, GrantStatus(grant.grant_status)))
        await self.run.apply(observations)

    def _note_unknown(self, grant: NylasGrant) -> None:
        # A grant minted after the observation time may belong to a registration that has not
        # committed its record yet.
        if grant.created_at is not None and grant.created_at > self._observed_unix:
            return
        self.run.result.unknown_at_nylas += 1
        if len(self.unknown_ids) < _MAX_LOGGED_UNKNOWN_IDS:
            self.unknown_ids.append(grant.id)

    def _report_unknown(self) -> None:
        count = self.run.result.unknown_at_nylas
        if count == 0:
            return
        log.warning(
            "sweep.unknown_grants",
            count=count,
            grant_ids=self.unknown_ids,
            grant_ids_omitted=count - len(self.unknown_ids),
            hint="These grants exist at Nylas but no user holds them. They were not deleted.",
        )

    async def _remove_missing(self) -> None:
        """Remove the records whose grant Nylas no longer has, each confirmed by a lookup.

        Offset paging skips a grant whenever an earlier one is deleted during the walk, so a
        grant missing from the listing may still exist. Each one is therefore looked up with
        `GET /v3/grants/{id}`, and only a 404 removes its record.
        """
        to_check, deferred, records = await self._find_missing()
        if not to_check:
            return
        if self._mass_deletion_suspected(len(to_check) + deferred, records):
            _log_mass_deletion(len(to_check) + deferred, records)
            self.run.result.deletions_deferred = len(to_check) + deferred
            return

        self.run.result.deletions_deferred = deferred
        if deferred:
            log.warning(
                "sweep.deletion_checks_deferred",
                checked=len(to_check),
                deferred=deferred,
                hint="The next full sweeps check the rest.",
            )
        for batch in _batches(to_check, _APPLY_BATCH_SIZE):
            observations = [await self.run.observe_at_nylas(grant_id) for grant_id in batch]
            await self.run.apply(observations)

    async def _find_missing(self) -> tuple[list[str], int, int]:
        """Return the unlisted grant ids to check (at most `max_deletion_checks`), the count
        of those left for a later sweep, and the count of records scanned."""
        to_check: list[str] = []
        deferred = 0
        records = 0
        async for grant_ids in self.run.stored_grant_ids():
            records += len(grant_ids)
            for grant_id in grant_ids:
                if grant_id in self.listed:
                    continue
                if len(to_check) < self.run.config.max_deletion_checks:
                    to_check.append(grant_id)
                else:
                    deferred += 1
        return to_check, deferred, records

    def _mass_deletion_suspected(self, missing: int, records: int) -> bool:
        config = self.run.config
        return (
            missing >= config.mass_deletion_min_records
            and missing >= records * config.mass_deletion_share
        )


def _log_mass_deletion(missing: int, records: int) -> None:
    log.error(
        "sweep.mass_deletion_suspected",
        missing=missing,
        records=records,
        hint=(
            "No record was removed. Check that the Nylas API key and region belong to the "
            "application that issued the stored grants."
        ),
    )


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
