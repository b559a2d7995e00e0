"""Every query of the grants domain."""

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.grants.models import Grant, GrantStatus, IdempotencyRecord, Provider

_GRANTS = cast(Table, Grant.__table__)  # type: ignore[attr-defined]
# Built once: a lookup then skips constructing and hashing its statement.
_BY_USER = sa_select(_GRANTS).where(_GRANTS.c.user_id == bindparam("key"))
_BY_GRANT_ID = sa_select(_GRANTS).where(_GRANTS.c.grant_id == bindparam("key"))


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


class GrantLookups:
    """Single-row reads of the grants table, outside any ORM session.

    A lookup is one SELECT, so it needs no unit of work: on PostgreSQL it runs on an autocommit
    connection, which saves the BEGIN and ROLLBACK round trips, and builds no identity map. The
    engine pings only idle connections (see database.py). When a lookup finds its connection
    dead, SQLAlchemy discards the pool's older connections, and the lookup runs once more on a
    fresh one: a read is safe to repeat.
    """

    def __init__(self, engine: AsyncEngine, *, pool_size: int) -> None:
        # SQLite keeps the engine's own transaction handling (BEGIN IMMEDIATE, see database.py).
        if engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._engine = engine
        # When the pool is exhausted, SQLAlchemy lets a newcomer take a connection that was just
        # returned for a lookup already waiting, so under a sustained burst a few lookups wait
        # far longer than the rest. The semaphore queues lookups in arrival order, and holding
        # them to half the pool keeps a flood of lookups from starving registrations and sweeps.
        self._slots = asyncio.Semaphore(max(1, pool_size // 2))

    async def by_user(self, user_id: str) -> Row[Any] | None:
        return await self._first(_BY_USER, {"key": user_id})

    async def by_grant_id(self, grant_id: str) -> Row[Any] | None:
        return await self._first(_BY_GRANT_ID, {"key": grant_id})

    async def _first(self, statement: Select[Any], parameters: dict[str, str]) -> Row[Any] | None:
        try:
            return await self._execute(statement, parameters)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return await self._execute(statement, parameters)

    async def _execute(self, statement: Select[Any], parameters: dict[str, str]) -> Row[Any] | None:
        async with self._slots, self._engine.connect() as connection:
            row: Row[Any] | None = (await connection.execute(statement, parameters)).first()
            return row


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
