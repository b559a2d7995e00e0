"""Fixing what a reconciliation found: record statuses, dangling records, orphan grants.

Statuses and dangling records change through `StatusService`, as a status sweep would change
them, so each change is written with its event and never overwrites a newer status. Orphan
grants are deleted at Nylas, for good, only when asked for separately.
"""

from collections.abc import Iterable, Sequence

import structlog
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.grants.models import GrantStatus, StatusSource
from app.grants.repository import GrantRepository
from app.nylas.errors import NylasError, NylasNotFound
from app.reconcile.compare import Reconciler
from app.reconcile.findings import Finding, FindingKind, ReconcileReport
from app.status.service import Observation, StatusService

log = structlog.get_logger(__name__)

# Observations applied per transaction.
_APPLY_BATCH_SIZE = 200

_SOURCE = StatusSource.RECONCILE


async def apply_fixes(
    report: ReconcileReport, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Set each mismatched record to Nylas's status and remove each dangling record."""
    fixable = [
        finding
        for finding in report.findings
        if finding.kind in (FindingKind.STATUS_MISMATCH, FindingKind.DANGLING)
    ]
    for batch in _batches(fixable, _APPLY_BATCH_SIZE):
        async with sessionmaker() as session:
            changes = await StatusService(session).apply([_observation(f) for f in batch])
        changed = {change.grant_id for change in changes}
        for finding in batch:
            _describe_fix(finding, fixed=finding.grant_id in changed)
    report.applied = True


def _observation(finding: Finding) -> Observation:
    if finding.observed_at is None:
        raise ValueError(f"finding for grant {finding.grant_id} has no observation time")
    if finding.kind is FindingKind.DANGLING:
        return Observation(finding.grant_id, None, _SOURCE, finding.observed_at)
    if finding.nylas_status is None:
        raise ValueError(f"status mismatch of grant {finding.grant_id} has no Nylas status")
    status = GrantStatus(finding.nylas_status)
    return Observation(finding.grant_id, status, _SOURCE, finding.observed_at)


def _describe_fix(finding: Finding, *, fixed: bool) -> None:
    if fixed and finding.kind is FindingKind.DANGLING:
        finding.action = "record removed"
    elif fixed:
        finding.action = f"status set to {finding.nylas_status}"
    else:
        finding.action = "left alone: the record changed after Nylas was read"
    finding.resolved = fixed


async def delete_orphans(
    report: ReconcileReport,
    sessionmaker: async_sessionmaker[AsyncSession],
    reconciler: Reconciler,
) -> None:
    """Delete at Nylas each orphan grant that is old enough and still held by no user.

    Each orphan is checked again right before its deletion, because a registration may have
    bound it since the listing was read, or re-authenticated it at Nylas and be about to.
    """
    for finding in report.findings:
        if finding.kind is FindingKind.ORPHAN:
            await _delete_orphan(finding, sessionmaker, reconciler)
    report.orphans_deleted = True


async def _delete_orphan(
    finding: Finding,
    sessionmaker: async_sessionmaker[AsyncSession],
    reconciler: Reconciler,
) -> None:
    if finding.note is not None:
        finding.action = "left alone"
        return
    if await _held_now(finding.grant_id, sessionmaker):
        _resolve(finding, "left alone: a user holds it now")
        return

    try:
        await _delete_if_still_old(finding, reconciler)
    except NylasNotFound:
        _resolve(finding, "already deleted at Nylas")
    except NylasError as exc:
        finding.action = f"delete failed: {exc}"
        log.warning(
            "reconcile.orphan_delete_failed",
            grant_id=finding.grant_id,
            error_type=type(exc).__name__,
            nylas_status=exc.status,
            nylas_request_id=exc.request_id,
        )


async def _delete_if_still_old(finding: Finding, reconciler: Reconciler) -> None:
    await reconciler.paced()
    grant = await reconciler.nylas.get_grant(finding.grant_id)
    if reconciler.is_recent(grant):
        finding.action = "left alone: re-authenticated at Nylas since the listing"
        return

    await reconciler.paced()
    await reconciler.nylas.delete_grant(finding.grant_id)
    _resolve(finding, "deleted at Nylas")
    log.warning("reconcile.orphan_deleted", grant_id=finding.grant_id, provider=finding.provider)


async def _held_now(grant_id: str, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        return await GrantRepository(session).get_by_grant_id(grant_id) is not None


def _resolve(finding: Finding, action: str) -> None:
    finding.action = action
    finding.resolved = True


def _batches(items: Sequence[Finding], size: int) -> Iterable[Sequence[Finding]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
