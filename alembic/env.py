"""Alembic environment: runs the migrations on the async engine of the configured database."""

import asyncio

from sqlalchemy.engine import Connection

import app.tables  # noqa: F401  (registers every table on the metadata)
from alembic import context
from app.core.database import create_engine, metadata

config = context.config


def _database_url() -> str:
    # `grant-broker migrate` and the tests pass the URL in the config; a plain `alembic`
    # command reads the service's own setting.
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.core.config import Settings

    return Settings().database_url


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_database_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_migrations)
    await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    asyncio.run(_run_online())
