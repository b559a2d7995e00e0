"""Database engine, sessions and the column types shared by the tables.

SQLite (`sqlite+aiosqlite`) is the embedded default and PostgreSQL (`postgresql+asyncpg`) the
production database; the schema is created only by the alembic migrations.
"""

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# Stable constraint names, identical on SQLite and PostgreSQL, so migrations can name them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

# A pooled PostgreSQL connection idle this long is pinged before it is used again.
PING_IDLE_AFTER_SECONDS = 5.0
_CHECKED_IN_AT = "grant_broker_checked_in_at"

# SQLite waits this long for a competing writer's lock before failing with "database is locked".
_SQLITE_BUSY_TIMEOUT_SECONDS = 30


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no zone, so values come back naive there; they are stored as UTC and tagged
    UTC again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module would otherwise start a transaction only at the first write, so a
    # read-then-write unit of work would read outside its transaction and could lose an
    # update. Transactions are begun explicitly in _begin_sqlite instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while one writer commits; the busy timeout queues writers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so transactions on the embedded database run
    # one at a time, as PostgreSQL's row locks make concurrent registrations do.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    ping_idle_after: float = PING_IDLE_AFTER_SECONDS,
) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    # No overflow connections: under a burst they would be opened and closed again per request,
    # each costing a TCP and TLS handshake. Requests beyond `pool_size` wait for a free one.
    engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=0)
    _ping_idle_connections(engine, ping_idle_after)
    return engine


def _ping_idle_connections(engine: AsyncEngine, idle_after: float) -> None:
    """Ping a pooled connection before use only when it has been idle for `idle_after` seconds.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, which costs each request a round
    trip. Under load connections are never idle, and one found dead by a statement makes
    SQLAlchemy discard every connection opened before it, so a database restart costs at most
    the statements in flight (lookups retry theirs). After a quiet spell, when a restart is
    most likely to have gone unnoticed, the ping catches the dead connection instead, and the
    pool opens a fresh one.
    """

    def record_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_after:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool then discards this connection and checks out another.
            raise DisconnectionError(type(exc).__name__) from None

    event.listen(engine.sync_engine, "checkin", record_checkin)
    event.listen(engine.sync_engine, "checkout", ping_if_idle)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request.

    Services open explicit transactions (`async with session.begin()`) around each unit of
    work, because a registration must commit its record before it deletes a replaced grant at
    Nylas and must never hold a transaction open across a Nylas call. Whatever is still open
    when the request ends is rolled back.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
