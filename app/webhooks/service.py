"""Applying verified grant notifications: de-duplication, status resolution, status change.

Nylas delivers each notification at least once. The envelope `id` is inserted into
`webhook_deliveries` in the same transaction as the status change it causes, so a delivery is
either applied and recorded, or neither: a failure midway leaves no row, and Nylas's redelivery
applies the notification then.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.grants.models import GrantStatus, StatusSource
from app.grants.repository import GrantRepository
from app.nylas.client import NylasClient
from app.nylas.errors import NylasError, NylasNotFound
from app.status.guard import MassInvalidationGuard
from app.status.service import Observation, StatusChange, StatusService
from app.webhooks.envelope import (
    GrantObject,
    GrantTrigger,
    WebhookEnvelope,
    carries_only_grant_id,
    parse_grant_object,
)
from app.webhooks.errors import WebhookUnavailable
from app.webhooks.models import WebhookDelivery
from app.webhooks.stats import WebhookStats

log = structlog.get_logger(__name__)

# Nylas waits 10 s for the response. The grant lookup gets at most this share of it, which leaves
# time for the database work and the response.
LOOKUP_TIMEOUT_SECONDS = 4.0


class WebhookOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    UNKNOWN_GRANT = "unknown_grant"
    IGNORED = "ignored"


@dataclass(frozen=True)
class _Reading:
    """The status a notification reports. None means the grant no longer exists at Nylas."""

    status: GrantStatus | None


class WebhookService:
    """Applies one verified notification per `handle` call, using the request's session."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        nylas: NylasClient,
        guard: MassInvalidationGuard,
        stats: WebhookStats,
        lookup_timeout: float = LOOKUP_TIMEOUT_SECONDS,
    ) -> None:
        self.session = session
        self.nylas = nylas
        self.guard = guard
        self.stats = stats
        self.lookup_timeout = lookup_timeout

    async def handle(self, envelope: WebhookEnvelope) -> WebhookOutcome:
        """Apply `envelope` once. Raises `WebhookUnavailable` when a later attempt can succeed.

        Also raises `InvalidDelivery` for a grant notification without a valid `grant_id`.
        """
        trigger = envelope.trigger
        if trigger is None:
            return self._ignore(envelope, reason="type not applied")
        grant = parse_grant_object(envelope)

        try:
            return await self._handle_grant(envelope, trigger, grant)
        except SQLAlchemyError as exc:
            self.stats.database_failures += 1
            log.error(
                "webhook.database_failed",
                envelope_id=envelope.id,
                type=envelope.type,
                grant_id=grant.grant_id,
                error_type=type(exc).__name__,
            )
            raise WebhookUnavailable(
                "The database failed while applying the delivery. Nothing was recorded, "
                "so a redelivery applies it."
            ) from exc

    async def _handle_grant(
        self, envelope: WebhookEnvelope, trigger: GrantTrigger, grant: GrantObject
    ) -> WebhookOutcome:
        # Read in a transaction of its own, closed before any Nylas call.
        async with self.session.begin():
            recorded = await self.session.get(WebhookDelivery, envelope.id) is not None
            grant_row = await GrantRepository(self.session).get_by_grant_id(grant.grant_id)
            grant_held = grant_row is not None
        # The grant may change during the Nylas lookup. Without this snapshot in the session,
        # the status service loads the row again under its lock.
        self.session.expunge_all()
        if recorded:
            return self._duplicate(envelope, grant)
        if not grant_held:
            return self._unknown(envelope, grant)

        reading = await self._read_status(envelope, trigger, grant)
        if reading is None:
            return self._ignore(envelope, reason="not a re-authentication")

        observation = Observation(
            grant.grant_id, reading.status, StatusSource.WEBHOOK, _observed_at(envelope)
        )
        changes = await self._record_and_apply(envelope, observation)
        if changes is None:
            return self._duplicate(envelope, grant)

        self._applied(envelope, grant, changes)
        await self._check_mass_invalidation(changes)
        return WebhookOutcome.APPLIED

    async def _read_status(
        self, envelope: WebhookEnvelope, trigger: GrantTrigger, grant: GrantObject
    ) -> _Reading | None:
        """Return the status the notification reports, or None when it changes no status."""
        if carries_only_grant_id(envelope):
            # Nothing but the id: Nylas's current view of the grant replaces the type's meaning.
            return await self._look_up(grant.grant_id)

        if trigger is GrantTrigger.EXPIRED:
            return _Reading(GrantStatus.INVALID)
        if trigger is GrantTrigger.DELETED:
            return _Reading(None)
        if trigger is GrantTrigger.CREATED:
            return _Reading(GrantStatus.VALID)

        reauthentication = grant.is_reauthentication
        if reauthentication is None:
            return await self._look_up(grant.grant_id)
        return _Reading(GrantStatus.VALID) if reauthentication else None

    async def _look_up(self, grant_id: str) -> _Reading:
        self.stats.lookups += 1
        try:
            async with asyncio.timeout(self.lookup_timeout):
                nylas_grant = await self.nylas.get_grant(grant_id)
        except NylasNotFound:
            return _Reading(None)
        except (NylasError, TimeoutError) as exc:
            self._lookup_failed(grant_id, exc)
            # 503, because Nylas redelivers after it, while a 200 would lose the notification.
            raise WebhookUnavailable(
                "Nylas did not return the grant in time. The delivery is applied when Nylas "
                "redelivers it."
            ) from exc
        return _Reading(GrantStatus(nylas_grant.grant_status))

    async def _record_and_apply(
        self, envelope: WebhookEnvelope, observation: Observation
    ) -> list[StatusChange] | None:
        """Record the delivery and apply the observation in one transaction.

        Returns None when a concurrent attempt of the same delivery committed first.
        """
        try:
            async with self.session.begin():
                self.session.add(WebhookDelivery(id=envelope.id, type=envelope.type))
                # The insert runs first, so a duplicate fails before any grant row is locked.
                await self.session.flush()
                return await StatusService(self.session).apply_in_transaction([observation])
        except IntegrityError:
            return None

    async def _check_mass_invalidation(self, changes: list[StatusChange]) -> None:
        # The changes are committed, so a failing check is logged and the delivery still
        # acknowledged: a 503 now would only bring a redelivery that is a duplicate.
        try:
            await self.guard.check(self.session, changes)
        except SQLAlchemyError as exc:
            log.error(
                "webhook.guard_check_failed",
                grant_ids=[change.grant_id for change in changes],
                error_type=type(exc).__name__,
            )
        finally:
            await self.session.rollback()

    def _lookup_failed(self, grant_id: str, exc: Exception) -> None:
        self.stats.lookup_failures += 1
        nylas_error = exc if isinstance(exc, NylasError) else None
        log.warning(
            "webhook.lookup_failed",
            grant_id=grant_id,
            error_type=type(exc).__name__,
            timeout_seconds=self.lookup_timeout,
            nylas_status=nylas_error.status if nylas_error else None,
            nylas_request_id=nylas_error.request_id if nylas_error else None,
        )

    def _applied(
        self, envelope: WebhookEnvelope, grant: GrantObject, changes: list[StatusChange]
    ) -> None:
        self.stats.applied += 1
        self.stats.changed += len(changes)
        log.info(
            "webhook.applied",
            envelope_id=envelope.id,
            type=envelope.type,
            grant_id=grant.grant_id,
            changes=[str(change.event_type) for change in changes],
        )

    def _duplicate(self, envelope: WebhookEnvelope, grant: GrantObject) -> WebhookOutcome:
        self.stats.duplicates += 1
        log.info(
            "webhook.duplicate",
            envelope_id=envelope.id,
            type=envelope.type,
            grant_id=grant.grant_id,
        )
        return WebhookOutcome.DUPLICATE

    def _unknown(self, envelope: WebhookEnvelope, grant: GrantObject) -> WebhookOutcome:
        self.stats.unknown_grants += 1
        log.info(
            "webhook.unknown_grant",
            envelope_id=envelope.id,
            type=envelope.type,
            grant_id=grant.grant_id,
        )
        return WebhookOutcome.UNKNOWN_GRANT

    def _ignore(self, envelope: WebhookEnvelope, *, reason: str) -> WebhookOutcome:
        self.stats.ignored += 1
        log.info(
            "webhook.ignored",
            envelope_id=envelope.id,
            type=envelope.type,
            grant_id=envelope.grant_id,
            reason=reason,
        )
        return WebhookOutcome.IGNORED


def _observed_at(envelope: WebhookEnvelope) -> datetime:
    """Return the envelope `time`, but never later than now.

    A notification reports the grant as of its `time`, which can be minutes before it arrives
    (`grant.expired` up to about 10 minutes), so a newer re-registration is never overwritten.
    A sender clock ahead of ours must not date the record into the future either, because that
    would make every later observation look stale.
    """
    sent_at = datetime.fromtimestamp(envelope.time, UTC)
    return min(sent_at, utc_now())
