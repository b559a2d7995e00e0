"""Fixtures for import tests: input files, options that keep runs fast, and database access."""

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import create_engine, create_sessionmaker
from app.grants.models import Grant
from app.imports.importer import ImportOptions
from app.imports.rows import FileFormat
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY
from tests.imports.commands import ServedSimulator, serve_simulator

# High enough that neither the simulator's limit nor the import's pacing slows a test down,
# where the rate is not what the test is about.
FAST_RATE = 1_000.0


def google_row(user_id: str, email: str, **extra: Any) -> dict[str, Any]:
    """A Google row whose refresh token the simulator maps to `email`."""
    return {
        "user_id": user_id,
        "provider": "google",
        "settings": {"refresh_token": f"sim:{email}:token"},
        **extra,
    }


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any] | str]) -> Path:
    """Write one line per row: a mapping as JSON, a string as it is."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def options_for(file: Path, **overrides: Any) -> ImportOptions:
    """Options for importing `file`, results next to it, at `FAST_RATE`."""
    values: dict[str, Any] = {
        "file": file,
        "file_format": FileFormat.for_path(file),
        "results": file.with_name(file.name + ".results.jsonl"),
        "rate": FAST_RATE,
        "concurrency": 4,
        "progress_interval": 3600.0,
        **overrides,
    }
    return ImportOptions(**values)


def read_results(path: Path) -> list[dict[str, Any]]:
    """Return the result lines, ordered by row."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted(lines, key=lambda line: line["row"])


@pytest.fixture
def fast_simulator() -> NylasSimulator:
    return NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=10_000)


@pytest.fixture
def served_simulator() -> Iterator[ServedSimulator]:
    with serve_simulator() as served:
        yield served


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def stored_by_user(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Grant]:
    """Return every record, by user id."""
    async with sessionmaker() as session:
        grants = (await session.exec(select(Grant))).all()
    return {grant.user_id: grant for grant in grants}
