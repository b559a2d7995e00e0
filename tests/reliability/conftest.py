"""Fixtures of the reliability suite: quick-failing settings, a broker app, fresh databases.

Slow cases carry `@pytest.mark.slow` and are left out of the default run; run everything with
`pytest tests/reliability -m "slow or not slow"`.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.auth import AuthMode
from app.core.config import Environment, Settings
from app.core.migrations import upgrade_database
from app.main import create_app
from app.simulator import NylasSimulator
from tests.conftest import (
    POSTGRES_URL_VARIABLE,
    TEST_API_KEY,
    _create_postgres_database,
    _drop_postgres_database,
)
from tests.process.conftest import SIMULATOR_API_KEY
from tests.process.servers import RunningCommand, clean_environment, free_port, run_command

# High enough that the simulator never throttles: these tests are about faults and races.
UNTHROTTLED = 1_000_000

# Short timeouts and backoffs keep every fault case to about a second. The retry rules are those
# of production: two attempts, a time budget, and `Retry-After` honoured within it.
QUICK_FAILURE: dict[str, object] = {
    "nylas_read_timeout": 0.5,
    "nylas_max_attempts": 2,
    "nylas_retry_budget": 2.0,
    "nylas_backoff_initial": 0.01,
    "nylas_backoff_max": 0.02,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes minutes; left out of the default run")


@pytest.fixture
def simulator() -> NylasSimulator:
    """The in-memory Nylas, with its rate limit out of the way."""
    return NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=UNTHROTTLED)


# No background sweeps in the app under test: a test that wants a sweep runs one itself, and a
# scheduled one would add Nylas calls and database connections at random moments.
NO_SWEEPS: dict[str, object] = {"sweep_enabled": False}


@pytest.fixture
def quick_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**QUICK_FAILURE, **NO_SWEEPS})


def settings_for(database_url: str) -> Settings:
    """Return the test settings (see tests/conftest.py) with quick failures, for `database_url`."""
    settings = Settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url=database_url,
        nylas_api_url="http://nylas.test",
        nylas_api_key=SecretStr(TEST_API_KEY),
        log_level="DEBUG",
        log_json=True,
    )
    return settings.model_copy(update={**QUICK_FAILURE, **NO_SWEEPS})


@asynccontextmanager
async def running_broker(
    settings: Settings, simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the broker app in-process, its Nylas calls going to `simulator`."""
    app = create_app(settings, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
            yield http


@pytest.fixture
async def broker(
    quick_settings: Settings, simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_broker(quick_settings, simulator) as http:
        yield http


def postgres_admin_url() -> str:
    """Return the admin URL of the test PostgreSQL server, or skip (fail in CI) without one."""
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin_url:
        reason = f"{POSTGRES_URL_VARIABLE} is not set, so the PostgreSQL cases cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI must run them (see .ci/run)", pytrace=False)
        pytest.skip(reason)
    return admin_url


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of its own, dropped after the test."""
    admin_url = postgres_admin_url()
    name = f"grant_broker_reliability_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_postgres_database(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    asyncio.run(_drop_postgres_database(admin_url, name))


@pytest.fixture
def nylas_process(tmp_path: Path) -> Iterator[RunningCommand]:
    """`grant-broker simulator` in its own process, unthrottled."""
    port = free_port()
    arguments = ["simulator", "--port", str(port), "--rate-limit", str(UNTHROTTLED)]
    environment = clean_environment(GRANT_BROKER_NYLAS_API_KEY=SIMULATOR_API_KEY)
    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as running:
        yield running


def broker_environment(database_url: str, nylas: RunningCommand, directory: Path) -> dict[str, str]:
    """Return settings for `grant-broker serve` in front of `nylas`: development mode, no
    identity checks, JSON logs, no sweeps, the API key from a file."""
    key_file = directory / "nylas-api-key"
    key_file.write_text(SIMULATOR_API_KEY)
    return clean_environment(
        GRANT_BROKER_ENV="development",
        GRANT_BROKER_AUTH_MODE="none",
        GRANT_BROKER_DATABASE_URL=database_url,
        GRANT_BROKER_NYLAS_API_URL=nylas.base_url,
        GRANT_BROKER_NYLAS_API_KEY_FILE=str(key_file),
        GRANT_BROKER_LOG_JSON="true",
        GRANT_BROKER_SWEEP_ENABLED="false",
    )
