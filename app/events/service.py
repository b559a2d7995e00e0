"""Recording grant events, inside the transaction that makes the change."""

from datetime import datetime

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.events.models import EventType, GrantEvent
from app.events.repository import EventRepository
from app.grants.models import Grant

log = structlog.get_logger(__name__)


class EventRecorder:
    def __init__(self, session: AsyncSession) -> None:
        self.events = EventRepository(session)

    async def record(
        self,
        event_type: EventType,
        grant: Grant,
        *,
        source: str,
        old_status: str | None,
        new_status: str | None,
        actor: str | None = None,
        previous_grant_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Add an event for `grant`; it commits or rolls back with the caller's transaction."""
        event = GrantEvent(
            type=event_type,
            user_id=grant.user_id,
            grant_id=grant.grant_id,
            previous_grant_id=previous_grant_id,
            provider=grant.provider,
            old_status=old_status,
            new_status=new_status,
            source=source,
            actor=actor,
            occurred_at=occurred_at or utc_now(),
        )
        await self.events.add(event)
        log.info(
            "event.recorded",
            event_type=str(event_type),
            user_id=grant.user_id,
            grant_id=grant.grant_id,
            source=source,
        )
