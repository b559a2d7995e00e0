"""Queries of the event feed."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.events.models import EventType, GrantEvent

# Any fixed number: the advisory lock key that orders event inserts on PostgreSQL.
_EVENT_ORDER_LOCK = 7_270_401


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, event: GrantEvent) -> None:
        """Insert an event so that ids become visible in increasing order.

        PostgreSQL hands out sequence values at insert time, so a transaction that took id 11
        could commit before one holding id 10, and a consumer paging past 11 would never see
        10. Writers therefore take a transaction-scoped advisory lock before inserting, which
        makes event-writing transactions commit in id order. SQLite has one writer at a time.
        """
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            await connection.execute(lock, {"key": _EVENT_ORDER_LOCK})
        self.session.add(event)

    async def list_after(
        self, *, after_id: int, limit: int, types: Sequence[EventType] = ()
    ) -> Sequence[GrantEvent]:
        statement = (
            select(GrantEvent)
            .where(col(GrantEvent.id) > after_id)
            .order_by(col(GrantEvent.id))
            .limit(limit)
        )
        if types:
            statement = statement.where(col(GrantEvent.type).in_(list(types)))
        return (await self.session.exec(statement)).all()

    async def oldest_id(self) -> int | None:
        oldest: int | None = (await self.session.exec(select(func.min(GrantEvent.id)))).one()
        return oldest

    async def delete_before(self, cutoff: datetime) -> int:
        statement = delete(GrantEvent).where(col(GrantEvent.occurred_at) < cutoff)
        result = await self.session.exec(statement)
        return int(result.rowcount or 0)
