"""A standalone Nylas simulator process and the environment of a broker that uses it."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.migrations import upgrade_database
from tests.process.servers import RunningCommand, clean_environment, free_port, run_command

SIMULATOR_API_KEY = "nylas-process-test-key-5c1a"


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCommand]:
    """`grant-broker simulator` on a free port."""
    port = free_port()
    environment = clean_environment(GRANT_BROKER_NYLAS_API_KEY=SIMULATOR_API_KEY)
    with run_command(
        ["simulator", "--port", str(port)],
        port=port,
        environment=environment,
        workdir=tmp_path_factory.mktemp("simulator"),
    ) as running:
        yield running


@pytest.fixture
def clear_faults(simulator: RunningCommand) -> Iterator[None]:
    yield
    httpx.delete(f"{simulator.base_url}/_simulator/faults", timeout=5).raise_for_status()


@pytest.fixture
def broker_environment(simulator: RunningCommand, tmp_path: Path) -> dict[str, str]:
    return make_broker_environment(simulator, tmp_path)


def make_broker_environment(simulator: RunningCommand, directory: Path) -> dict[str, str]:
    """Return settings for `grant-broker serve` against `simulator`, on a migrated SQLite file.

    Development mode with authentication off, so that requests need no mesh identity. The API
    key comes from a file, as a mounted Kubernetes Secret would provide it.
    """
    key_file = directory / "nylas-api-key"
    key_file.write_text(SIMULATOR_API_KEY)
    database_url = f"sqlite+aiosqlite:///{directory / 'broker.db'}"
    upgrade_database(database_url)

    return clean_environment(
        GRANT_BROKER_ENV="development",
        GRANT_BROKER_AUTH_MODE="none",
        GRANT_BROKER_DATABASE_URL=database_url,
        GRANT_BROKER_NYLAS_API_URL=simulator.base_url,
        GRANT_BROKER_NYLAS_API_KEY_FILE=str(key_file),
        GRANT_BROKER_LOG_JSON="true",
    )
