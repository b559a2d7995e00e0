"""Shared fixtures: a migrated database per backend, the Nylas simulator and the broker app.

Every API test runs twice, on SQLite and on PostgreSQL. The PostgreSQL run needs
GRANT_BROKER_TEST_POSTGRES_URL, an asyncpg URL of a role allowed to create databases (for
example `postgresql+asyncpg://grant_broker@127.0.0.1:5432/postgres`). Without it the PostgreSQL
cases are skipped locally, and fail when CI=true, because CI must run them.
"""

import asyncio
import io
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.auth import AuthMode
from app.core.config import Environment, Settings
from app.core.database import create_engine
from app.core.logging import log_formatter
from app.core.migrations import upgrade_database
from app.main import create_app
from app.simulator import NylasSimulator

POSTGRES_URL_VARIABLE = "GRANT_BROKER_TEST_POSTGRES_URL"
TEST_API_KEY = "nylas-test-key-0f9e8d7c"
TABLES = ("grants", "idempotency_keys", "grant_events", "leases", "webhook_deliveries")


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main") + "_" + uuid.uuid4().hex[:8]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_postgres_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test process."""
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin_url:
        reason = f"{POSTGRES_URL_VARIABLE} is not set, so the PostgreSQL cases cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must run them (see .ci/run)", pytrace=False)
        pytest.skip(reason)
    name = "grant_broker_test_" + _worker_suffix()
    asyncio.run(_create_postgres_database(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    asyncio.run(_drop_postgres_database(admin_url, name))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database file for this test process."""
    path = tmp_path_factory.mktemp("sqlite") / "grant-broker-test.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_database(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a migrated database, emptied after each test."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    yield url
    asyncio.run(_empty_tables(url))


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
    await engine.dispose()


@pytest.fixture
def simulator() -> NylasSimulator:
    return NylasSimulator(api_keys=[TEST_API_KEY])


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url=database_url,
        nylas_api_url="http://nylas.test",
        nylas_api_key=SecretStr(TEST_API_KEY),
        # Short waits keep retry tests fast; the retry rules are the same.
        nylas_backoff_initial=0.01,
        nylas_backoff_max=0.05,
        nylas_retry_budget=5.0,
        log_level="DEBUG",
        log_json=True,
        # Tests that sweep start the sweeper themselves.
        sweep_enabled=False,
    )


@pytest.fixture
async def client(settings: Settings, simulator: NylasSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the broker app, whose Nylas calls go to the simulator."""
    app = create_app(settings, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
            yield http


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Every log line the service writes during the test, rendered as in production (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter(json=True))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def database_file(url: str) -> Path | None:
    """Return the SQLite file behind `url`, or None for another backend."""
    parsed = make_url(url)
    return (
        Path(parsed.database)
        if parsed.drivername.startswith("sqlite") and parsed.database
        else None
    )
