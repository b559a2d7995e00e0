"""Applying what the broker learns about a grant's status, from any source.

Every source (sweep, webhook, live check, reconciliation) reports an observation: the grant's
status (or that it no longer exists at Nylas) as of a point in time. An observation older than
what the record already reflects is ignored, so a slow sweep or a late webhook never overwrites
a newer change such as a re-registration.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from app.events.models import EventType
from app.events.service import EventRecorder
from app.grants.models import Grant, GrantStatus, StatusSource
from app.grants.repository import GrantRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Observation:
    """A source's view of one grant at `observed_at`. `status` None means deleted at Nylas."""

    grant_id: str
    status: GrantStatus | None
    source: StatusSource
    observed_at: datetime


@dataclass(frozen=True)
class StatusChange:
    user_id: str
    grant_id: str
    provider: str
    old_status: GrantStatus
    new_status: GrantStatus | None
    event_type: EventType


class StatusService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.grants = GrantRepository(session)
        self.events = EventRecorder(session)

    async def apply(self, observations: Sequence[Observation]) -> list[StatusChange]:
        """Apply observations in one transaction of their own; return the changes made."""
        async with self.session.begin():
            return await self.apply_in_transaction(observations)

    async def apply_in_transaction(self, observations: Sequence[Observation]) -> list[StatusChange]:
        """Apply observations inside the caller's open transaction; return the changes made."""
        changes: list[StatusChange] = []
        for observation in observations:
            change = await self._apply_one(observation)
            if change is not None:
                changes.append(change)
        return changes

    async def _apply_one(self, observation: Observation) -> StatusChange | None:
        grant = await self.grants.get_by_grant_id(observation.grant_id, for_update=True)
        if grant is None:
            return None
        if observation.observed_at < grant.status_checked_at:
            log.debug(
                "grant.status_observation_stale",
                grant_id=grant.grant_id,
                source=observation.source,
            )
            return None
        if observation.status is None:
            return await self._delete(grant, observation)
        return await self._update(grant, observation.status, observation)

    async def _update(
        self, grant: Grant, status: GrantStatus, observation: Observation
    ) -> StatusChange | None:
        old_status = GrantStatus(grant.grant_status)
        grant.status_checked_at = observation.observed_at
        grant.status_source = observation.source
        if status == old_status:
            return None

        grant.grant_status = status
        grant.status_changed_at = observation.observed_at
        event_type = (
            EventType.INVALIDATED if status == GrantStatus.INVALID else EventType.REVALIDATED
        )
        await self.events.record(
            event_type,
            grant,
            source=observation.source,
            old_status=old_status,
            new_status=status,
        )
        log.info(
            "grant.status_changed",
            user_id=grant.user_id,
            grant_id=grant.grant_id,
            old_status=old_status,
            new_status=status,
            source=observation.source,
        )
        return _change(grant, old_status, status, event_type)

    async def _delete(self, grant: Grant, observation: Observation) -> StatusChange:
        old_status = GrantStatus(grant.grant_status)
        await self.grants.delete(grant)
        await self.events.record(
            EventType.DELETED,
            grant,
            source=observation.source,
            old_status=old_status,
            new_status=None,
        )
        log.warning(
            "grant.deleted_at_nylas",
            user_id=grant.user_id,
            grant_id=grant.grant_id,
            source=observation.source,
        )
        return _change(grant, old_status, None, EventType.DELETED)


def _change(
    grant: Grant, old: GrantStatus, new: GrantStatus | None, event_type: EventType
) -> StatusChange:
    return StatusChange(
        user_id=grant.user_id,
        grant_id=grant.grant_id,
        provider=grant.provider,
        old_status=old,
        new_status=new,
        event_type=event_type,
    )
