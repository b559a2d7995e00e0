"""Background status sweeps and retention cleanup, plus a one-off sweep for the command line.

Every replica runs a `SweepScheduler`, and the replicas share one schedule through rows of the
`leases` table: each job (`status-sweep.invalid`, `status-sweep.full`, `retention-cleanup`)
has a row whose `expires_at` is the time its next run is due. The replica that claims an
expired row with a conditional write runs the job and moves the row one interval ahead, so
each job runs once per interval across all replicas, not once per replica. A sweep also holds
the `status-sweep` lease while it runs, so no two sweeps overlap.

A job that fails keeps its claim, so it runs again one interval later, not at once.
"""

import asyncio
import collections
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker, utc_now
from app.events.repository import EventRepository
from app.nylas.client import NylasClient
from app.nylas.errors import NylasError
from app.nylas.factory import open_nylas_client
from app.status.guard import MassInvalidationGuard
from app.status.lease import LeaseRepository, new_replica_id
from app.status.sweep import StatusSweeper, SweepConfig, SweepFailed, SweepKind, SweepResult
from app.webhooks.models import WebhookDelivery

log = structlog.get_logger(__name__)

RETENTION_JOB = "retention-cleanup"
# The scheduler looks for due jobs this many times per shortest sweep interval.
_TICKS_PER_INTERVAL = 4


def sweep_job_name(kind: SweepKind) -> str:
    return f"status-sweep.{kind}"


class SweepScheduler:
    """Runs the invalid and full sweeps and the retention cleanup until cancelled.

    Start it in the application's lifespan with `start()` and end it with `stop()`, or run
    `run()` as a task of your own. Every error of a job is logged and the loop goes on.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        nylas: NylasClient,
        guard: MassInvalidationGuard,
        replica_id: str | None = None,
    ) -> None:
        self.replica_id = replica_id or new_replica_id()
        self.sessionmaker = sessionmaker
        self.sweeper = StatusSweeper(
            sessionmaker,
            nylas,
            guard,
            SweepConfig.from_settings(settings),
            replica_id=self.replica_id,
        )
        self.intervals = {
            SweepKind.INVALID: settings.sweep_invalid_interval,
            SweepKind.FULL: settings.sweep_full_interval,
        }
        self.retention = settings.event_retention
        self.tick_interval = min(self.intervals.values()) / _TICKS_PER_INTERVAL
        # The latest completed sweep of each kind on this replica, for readiness and metrics.
        self.last_results: dict[SweepKind, SweepResult] = {}
        # Changes made by completed sweeps since start, by sweep kind and event type: a metric.
        self.changes_total: collections.Counter[tuple[str, str]] = collections.Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="status-sweeps")

    async def stop(self) -> None:
        """Cancel the loop and wait for it. A sweep in progress releases its lease first."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def run(self) -> None:
        log.info(
            "sweep.scheduler_started",
            replica_id=self.replica_id,
            invalid_interval=self.intervals[SweepKind.INVALID],
            full_interval=self.intervals[SweepKind.FULL],
        )
        try:
            while True:
                await self.run_due_jobs()
                await asyncio.sleep(self.tick_interval)
        finally:
            log.info("sweep.scheduler_stopped", replica_id=self.replica_id)

    async def run_due_jobs(self) -> None:
        """Run each job whose next run is due and that no other replica claimed first."""
        for kind in (SweepKind.FULL, SweepKind.INVALID):
            await self._run_logged(
                sweep_job_name(kind), functools.partial(self._sweep_if_due, kind)
            )
        await self._run_logged(RETENTION_JOB, self._clean_up_if_due)

    async def _sweep_if_due(self, kind: SweepKind) -> None:
        job = sweep_job_name(kind)
        # A read first, so replicas do not contend for the sweep lease on every tick.
        if not await self._is_due(job):
            return

        result = await self.sweeper.run(kind, due=self._claimer(job, self.intervals[kind]))
        if result is not None and not result.skipped_lease_held:
            self.last_results[kind] = result
            for change, count in result.changes.items():
                self.changes_total[(str(kind), change)] += count

    async def _is_due(self, job: str) -> bool:
        async with self.sessionmaker() as session:
            row = await LeaseRepository(session).get(job)
        return row is None or row.expires_at <= utc_now()

    async def _clean_up_if_due(self) -> None:
        if await self._claimer(RETENTION_JOB, self.intervals[SweepKind.FULL])():
            await clean_up_retention(self.sessionmaker, retention=self.retention)

    def _claimer(self, job: str, interval: float) -> Callable[[], Awaitable[bool]]:
        async def claim() -> bool:
            now = utc_now()
            async with self.sessionmaker() as session, session.begin():
                return await LeaseRepository(session).try_acquire(
                    job,
                    holder=self.replica_id,
                    now=now,
                    expires_at=now + timedelta(seconds=interval),
                    renew_own=False,
                )

        return claim

    async def _run_logged(self, job: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await run()
        except SweepFailed as exc:
            log.error("sweep.failed", **exc.result.log_fields(), **_error_fields(exc.__cause__))
        except Exception as exc:
            log.error("scheduler.job_failed", job=job, **_error_fields(exc))


def _error_fields(exc: BaseException | None) -> dict[str, object]:
    """Describe an error for the log without its traceback, whose frames could hold secrets.

    The Nylas client redacts the messages of its errors, and SQLAlchemy's messages quote only
    the statement and its parameters (grant ids), so those two messages are logged. Of any
    other error, only the type is logged.
    """
    fields: dict[str, object] = {"error_type": type(exc).__name__}
    if isinstance(exc, NylasError):
        fields.update(
            nylas_status=exc.status, nylas_request_id=exc.request_id, error=str(exc)[:300]
        )
    elif isinstance(exc, SQLAlchemyError):
        fields["error"] = str(exc)[:300]
    return fields


async def clean_up_retention(
    sessionmaker: async_sessionmaker[AsyncSession], *, retention: float
) -> tuple[int, int]:
    """Delete events and webhook delivery records older than `retention` seconds.

    Returns the number of events and of delivery records deleted.
    """
    cutoff = utc_now() - timedelta(seconds=retention)
    async with sessionmaker() as session, session.begin():
        events = await EventRepository(session).delete_before(cutoff)
        deliveries = await _delete_webhook_deliveries_before(session, cutoff)

    log.info(
        "retention.cleaned_up",
        cutoff=cutoff.isoformat(),
        events_deleted=events,
        webhook_deliveries_deleted=deliveries,
    )
    return events, deliveries


async def _delete_webhook_deliveries_before(session: AsyncSession, cutoff: datetime) -> int:
    statement = delete(WebhookDelivery).where(col(WebhookDelivery.received_at) < cutoff)
    result = await session.exec(statement)
    return int(result.rowcount or 0)


async def run_sweep_once(
    settings: Settings, *, full: bool, nylas: NylasClient | None = None
) -> SweepResult:
    """Run one sweep now, outside the schedule, with its own database engine.

    Without `nylas`, a client is built from the settings (API key source, region, timeouts).
    Returns a result with `skipped_lease_held` when another replica is sweeping. Raises
    `SweepFailed` when the sweep stops early.
    """
    kind = SweepKind.FULL if full else SweepKind.INVALID
    engine = create_engine(
        settings.database_url, pool_size=settings.database_pool_size, echo=settings.database_echo
    )
    try:
        async with _nylas_client(settings, nylas) as client:
            sweeper = StatusSweeper(
                create_sessionmaker(engine),
                client,
                _guard(settings),
                SweepConfig.from_settings(settings),
            )
            result = await sweeper.run(kind)
    finally:
        await engine.dispose()

    # `run` returns None only when a due check declines, and none was given.
    assert result is not None  # noqa: S101
    return result


def _guard(settings: Settings) -> MassInvalidationGuard:
    return MassInvalidationGuard.from_settings(settings)


@asynccontextmanager
async def _nylas_client(
    settings: Settings, nylas: NylasClient | None
) -> AsyncIterator[NylasClient]:
    if nylas is not None:
        yield nylas
        return
    # Raises SecretLoadError naming the setting and the source when the key cannot load.
    async with open_nylas_client(settings) as client:
        yield client
