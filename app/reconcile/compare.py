"""Comparison of every record with Nylas's full grant listing, streaming both sides.

The listing is read a page at a time (`GET /v3/grants`, 200 grants, oldest first). Each page
is compared with the records of its grant ids at once, so the only thing kept for the whole
run is the set of grant ids seen. The records are then read in batches, and each one
whose grant the listing lacked is looked up with `GET /v3/grants/{id}`: offset paging skips a
grant whenever an earlier one is deleted during the walk, so only a 404 proves that a grant
is gone. Every Nylas call waits for the shared `TokenBucket`.
"""

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.grants.models import Grant
from app.imports.ratelimit import TokenBucket
from app.nylas.client import MAX_PAGE_SIZE, NylasClient
from app.nylas.errors import NylasNotFound
from app.nylas.models import NylasGrant
from app.reconcile.findings import Finding, FindingKind, ReconcileReport

log = structlog.get_logger(__name__)

WallClock = Callable[[], float]

# Records read per database query.
_RECORD_BATCH_SIZE = 1_000


@dataclass(frozen=True)
class ReconcileConfig:
    """Limits of a reconciliation. Durations are in seconds.

    `listing_lag`: Nylas's listings can lag changes by tens of seconds, so a status read from
    the listing is dated this long before the listing started, and `StatusService` keeps any
    newer status of the record. `min_orphan_age`: a grant minted or re-authenticated more
    recently may belong to a registration that has not committed its record yet, so it is
    reported but never deleted. `mass_deletion_share` and `mass_deletion_min_records`: when
    at least this share (and this many) of the records is missing from the listing, the API
    key most likely belongs to another Nylas application. The missing records are then
    neither looked up nor removed. The defaults match the status sweep's.
    """

    requests_per_second: float = 20.0
    page_size: int = MAX_PAGE_SIZE
    listing_lag: float = 60.0
    min_orphan_age: float = 300.0
    mass_deletion_share: float = 0.2
    mass_deletion_min_records: int = 20


@dataclass(frozen=True)
class _Record:
    grant_id: str
    user_id: str
    provider: str
    grant_status: str


class Reconciler:
    """Compares one database with one Nylas application."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        nylas: NylasClient,
        config: ReconcileConfig,
        *,
        bucket: TokenBucket | None = None,
        wall_clock: WallClock = time.time,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.nylas = nylas
        self.config = config
        self.bucket = bucket or TokenBucket(config.requests_per_second)
        self._wall_clock = wall_clock

    async def compare(self) -> ReconcileReport:
        """Compare every record with the listing; change nothing. Return the findings."""
        comparison = _Comparison(self)
        await comparison.run()
        return comparison.report

    async def paced(self) -> None:
        await self.bucket.acquire()

    def is_recent(self, grant: NylasGrant) -> bool:
        """Return whether Nylas minted or re-authenticated the grant within `min_orphan_age`."""
        touched = touched_at(grant)
        cutoff = self._wall_clock() - self.config.min_orphan_age
        return touched is None or touched >= cutoff


def touched_at(grant: NylasGrant) -> int | None:
    """Return the later of the grant's `created_at` and `updated_at`, if Nylas sent either."""
    times = [value for value in (grant.created_at, grant.updated_at) if value is not None]
    return max(times) if times else None


class _Comparison:
    """The state of one comparison: grant ids seen, findings and figures."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.config = reconciler.config
        self.report = ReconcileReport(started_at=utc_now())
        self.listing_observed_at = self.report.started_at - timedelta(
            seconds=self.config.listing_lag
        )
        # Every grant id in the listing: offset paging can repeat a grant, and the records
        # missing from the listing are found against this set.
        self.listed: set[str] = set()
        self._started = time.monotonic()

    async def run(self) -> None:
        calls_before = self.reconciler.bucket.admitted
        async for page in self._pages():
            await self._compare_page(page)

        missing = await self._missing_records()
        if self._looks_like_mass_deletion(len(missing)):
            self.report.unconfirmed_missing = len(missing)
        else:
            for record in missing:
                await self._look_up(record)

        self.report.nylas_grants = len(self.listed)
        self.report.nylas_calls = self.reconciler.bucket.admitted - calls_before
        self.report.duration = time.monotonic() - self._started

    async def _pages(self) -> AsyncIterator[list[NylasGrant]]:
        """Yield the whole listing, oldest grant first, one page at a time.

        Oldest first, so grants created during the walk land after the pages already read
        instead of shifting them. The last page is the first one shorter than the limit.
        """
        offset = 0
        while True:
            await self.reconciler.paced()
            page = await self.reconciler.nylas.list_grants(
                limit=self.config.page_size, offset=offset, sort_by="created_at", order_by="asc"
            )
            yield page.data
            if len(page.data) < self.config.page_size:
                return
            offset += len(page.data)

    async def _compare_page(self, page: Sequence[NylasGrant]) -> None:
        fresh = [grant for grant in page if grant.id not in self.listed]
        self.listed.update(grant.id for grant in fresh)
        stored = await self._stored([grant.id for grant in fresh])
        for grant in fresh:
            record = stored.get(grant.id)
            if record is None:
                self._add_orphan(grant)
            elif record.grant_status != grant.grant_status:
                self._add_mismatch(record, grant, self.listing_observed_at)

    async def _stored(self, grant_ids: Sequence[str]) -> dict[str, _Record]:
        statement = select(Grant.grant_id, Grant.user_id, Grant.provider, Grant.grant_status).where(
            col(Grant.grant_id).in_(list(grant_ids))
        )
        async with self.reconciler.sessionmaker() as session:
            rows = (await session.exec(statement)).all()
        return {row[0]: _Record(row[0], row[1], str(row[2]), str(row[3])) for row in rows}

    def _add_orphan(self, grant: NylasGrant) -> None:
        finding = Finding(
            FindingKind.ORPHAN,
            grant.id,
            provider=grant.provider,
            email=grant.email,
            nylas_status=grant.grant_status,
            nylas_touched_at=touched_at(grant),
        )
        if self.reconciler.is_recent(grant):
            finding.note = (
                f"minted or re-authenticated within the last {self.config.min_orphan_age:g} s; "
                "a registration may still be storing it"
            )
        self.report.findings.append(finding)

    def _add_mismatch(self, record: _Record, grant: NylasGrant, observed_at: datetime) -> None:
        self.report.findings.append(
            Finding(
                FindingKind.STATUS_MISMATCH,
                grant.id,
                user_id=record.user_id,
                provider=record.provider,
                email=grant.email,
                stored_status=record.grant_status,
                nylas_status=grant.grant_status,
                nylas_touched_at=touched_at(grant),
                observed_at=observed_at,
            )
        )

    async def _missing_records(self) -> list[_Record]:
        """Read every record in batches; return those whose grant the listing lacked."""
        missing: list[_Record] = []
        after_user_id = ""
        while True:
            # Keyset paging on the unique user id, so each query reads one index range.
            statement = (
                select(Grant.user_id, Grant.grant_id, Grant.provider, Grant.grant_status)
                .where(col(Grant.user_id) > after_user_id)
                .order_by(col(Grant.user_id))
                .limit(_RECORD_BATCH_SIZE)
            )
            async with self.reconciler.sessionmaker() as session:
                rows = (await session.exec(statement)).all()
            if not rows:
                return missing

            self.report.records += len(rows)
            missing.extend(
                _Record(grant_id, user_id, str(provider), str(status))
                for user_id, grant_id, provider, status in rows
                if grant_id not in self.listed
            )
            after_user_id = rows[-1][0]

    def _looks_like_mass_deletion(self, missing: int) -> bool:
        config = self.config
        if missing < config.mass_deletion_min_records:
            return False
        if missing < self.report.records * config.mass_deletion_share:
            return False
        warning = (
            f"{missing:,} of {self.report.records:,} records are missing from the listing, so "
            "they were not looked up or removed; check that the Nylas API key and region "
            "belong to the application that issued the stored grants"
        )
        self.report.warnings.append(warning)
        log.error("reconcile.mass_deletion_suspected", missing=missing, records=self.report.records)
        return True

    async def _look_up(self, record: _Record) -> None:
        """Look a record's grant up at Nylas: a 404 makes it dangling, else compare status."""
        await self.reconciler.paced()
        observed_at = utc_now()
        try:
            grant = await self.reconciler.nylas.get_grant(record.grant_id)
        except NylasNotFound:
            self.report.findings.append(
                Finding(
                    FindingKind.DANGLING,
                    record.grant_id,
                    user_id=record.user_id,
                    provider=record.provider,
                    stored_status=record.grant_status,
                    observed_at=observed_at,
                )
            )
            return

        # The grant exists, and the listing skipped it (or it is newer than the listing).
        self.listed.add(grant.id)
        if grant.grant_status != record.grant_status:
            self._add_mismatch(record, grant, observed_at)
