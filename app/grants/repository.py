"""Every query of the grants domain."""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.grants.models import Grant, GrantStatus, IdempotencyRecord, Provider


class GrantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_user(self, user_id: str, *, for_update: bool = False) -> Grant | None:
        statement = select(Grant).where(Grant.user_id == user_id)
        if for_update:
            # Serialises concurrent registrations of one user on PostgreSQL; SQLite has a
            # single writer already and ignores FOR UPDATE.
            statement = statement.with_for_update()
        return (await self.session.exec(statement)).first()

    async def get_by_grant_id(self, grant_id: str, *, for_update: bool = False) -> Grant | None:
        statement = select(Grant).where(Grant.grant_id == grant_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.exec(statement)).first()

    async def list_page(
        self,
        *,
        after_user_id: str | None,
        limit: int,
        grant_status: GrantStatus | None = None,
        provider: Provider | None = None,
    ) -> Sequence[Grant]:
        """Return up to `limit` grants ordered by user id, starting after `after_user_id`."""
        statement = select(Grant).order_by(col(Grant.user_id)).limit(limit)
        if after_user_id is not None:
            statement = statement.where(col(Grant.user_id) > after_user_id)
        if grant_status is not None:
            statement = statement.where(Grant.grant_status == grant_status)
        if provider is not None:
            statement = statement.where(Grant.provider == provider)
        return (await self.session.exec(statement)).all()

    def add(self, grant: Grant) -> None:
        self.session.add(grant)

    async def delete(self, grant: Grant) -> None:
        await self.session.delete(grant)

    async def flush(self) -> None:
        await self.session.flush()


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> IdempotencyRecord | None:
        return await self.session.get(IdempotencyRecord, key)

    def add(self, record: IdempotencyRecord) -> None:
        self.session.add(record)

    async def delete(self, record: IdempotencyRecord) -> None:
        await self.session.delete(record)

    async def delete_expired(self, now: datetime) -> None:
        statement = delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= now)
        await self.session.exec(statement)
