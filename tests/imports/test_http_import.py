"""Importing through a running broker (`--url`), on SQLite and PostgreSQL."""

import io
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import AuthMode
from app.core.config import Settings
from app.grants.models import Grant, IdempotencyRecord
from app.imports.importer import ImportReport, run_import
from app.imports.registrars import IdempotencyKeys
from app.imports.rows import SourceRow
from app.imports.validation import ValidRow, validate_row
from app.main import create_app
from app.simulator import NylasSimulator
from tests.imports.conftest import (
    google_row,
    options_for,
    read_results,
    stored_by_user,
    write_jsonl,
)

BROKER_URL = "http://broker.test"
IMPORTER = "bulk-importer"
IMPORTER_TOKEN = "importer-token-0123456789abcdefghijklmn"


@pytest.fixture
async def broker(
    settings: Settings, fast_simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncBaseTransport]:
    """A transport to the broker app, with identity checks off, calling the simulator."""
    app = create_app(settings, nylas_transport=fast_simulator.transport())
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


@pytest.fixture
async def token_broker(
    settings: Settings, fast_simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncBaseTransport]:
    """A broker in token mode whose importer may register grants but not read them."""
    token_settings = settings.model_copy(
        update={
            "auth_mode": AuthMode.TOKEN,
            "callers": json.dumps({IMPORTER: ["grants:register"]}),
            "caller_tokens": SecretStr(json.dumps({IMPORTER: IMPORTER_TOKEN})),
        }
    )
    app = create_app(token_settings, nylas_transport=fast_simulator.transport())
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app)


async def _import_via(
    settings: Settings, transport: httpx.AsyncBaseTransport, file: Path, **options: object
) -> ImportReport:
    return await run_import(
        settings,
        options_for(file, url=BROKER_URL, **options),
        broker_transport=transport,
    )


async def test_url_import_registers_rows(
    settings: Settings,
    broker: httpx.AsyncBaseTransport,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 4)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)

    report = await _import_via(settings, broker, file)

    stored = await stored_by_user(sessionmaker)
    results = read_results(options_for(file).results)
    async with sessionmaker() as session:
        keys = (await session.exec(select(IdempotencyRecord.key))).all()
    assert report.exit_status == 0
    assert [(r["user_id"], r["outcome"]) for r in results] == [
        ("u-1", "registered"),
        ("u-2", "registered"),
        ("u-3", "registered"),
    ]
    assert [r["grant_id"] for r in results] == [stored[f"u-{n}"].grant_id for n in (1, 2, 3)]
    assert len(keys) == 3


async def test_url_rerun_sends_same_idempotency_keys(
    settings: Settings,
    broker: httpx.AsyncBaseTransport,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])
    first = await _import_via(settings, broker, file)
    # Without the record, the rerun posts the row again, and the broker replays its response.
    async with sessionmaker() as session, session.begin():
        await session.exec(delete(Grant))

    second = await _import_via(settings, broker, file)

    results = read_results(options_for(file).results)
    assert first.exit_status == 0
    assert second.exit_status == 0
    assert [r["outcome"] for r in results] == ["registered"]
    assert fast_simulator.call_count("connect_custom") == 1


async def test_url_rerun_skips_by_lookup(
    settings: Settings,
    broker: httpx.AsyncBaseTransport,
    fast_simulator: NylasSimulator,
    tmp_path: Path,
) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])
    await _import_via(settings, broker, file)

    report = await _import_via(settings, broker, file)

    results = read_results(options_for(file).results)
    assert report.exit_status == 0
    assert [r["outcome"] for r in results] == ["skipped"]
    assert fast_simulator.call_count("connect_custom") == 1


async def test_url_failed_row_carries_problem(
    settings: Settings,
    broker: httpx.AsyncBaseTransport,
    fast_simulator: NylasSimulator,
    tmp_path: Path,
) -> None:
    fast_simulator.revoke_credential(provider="google", secret="sim:bad@example.com:token")
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "bad@example.com")])

    report = await _import_via(settings, broker, file)

    results = read_results(options_for(file).results)
    assert report.exit_status == 1
    assert results[0]["error_type"] == "credentials-rejected"
    assert results[0]["error"].startswith("Nylas or the provider rejected the credentials")


async def test_token_mode_sends_bearer_token(
    settings: Settings,
    token_broker: httpx.AsyncBaseTransport,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    log_output: io.StringIO,
) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    report = await _import_via(settings, token_broker, file, token=SecretStr(IMPORTER_TOKEN))

    stored = await stored_by_user(sessionmaker)
    results = read_results(options_for(file).results)
    assert report.exit_status == 0
    assert results[0]["outcome"] == "registered"
    assert stored["u-1"].registered_by == IMPORTER
    # The importer may not read grants, so the rerun check was dropped, not the row.
    assert '"event": "import.lookup_not_permitted"' in log_output.getvalue()
    assert IMPORTER_TOKEN not in log_output.getvalue()


async def test_missing_token_stops_import(
    settings: Settings,
    token_broker: httpx.AsyncBaseTransport,
    fast_simulator: NylasSimulator,
    tmp_path: Path,
) -> None:
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 11)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)

    report = await _import_via(settings, token_broker, file, concurrency=1)

    assert report.exit_status == 2
    assert report.stop_reason is not None
    assert report.stop_reason.startswith("the broker responded with 401")
    assert fast_simulator.call_count("connect_custom") == 0


async def test_unreachable_broker_stops_import(settings: Settings, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    report = await run_import(settings, options_for(file, url="http://127.0.0.1:9"))

    assert report.exit_status == 2
    assert report.stop_reason == "cannot connect to the broker at http://127.0.0.1:9"


def _valid(number: int, user_id: str) -> ValidRow:
    fields: dict[str, object] = {
        "user_id": user_id,
        "provider": "google",
        "settings": {"refresh_token": "t"},
    }
    checked = validate_row(SourceRow(number, fields))
    assert isinstance(checked, ValidRow)
    return checked


def test_idempotency_key_stable_per_file(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    first = IdempotencyKeys(file).key(_valid(1, "u-1"))

    assert IdempotencyKeys(file).key(_valid(1, "u-1")) == first
    assert IdempotencyKeys(file).key(_valid(2, "u-1")) != first
    assert IdempotencyKeys(file).key(_valid(1, "u-2")) != first


def test_idempotency_key_changes_with_file(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])
    first = IdempotencyKeys(file).key(_valid(1, "u-1"))

    # The same size, edited later: corrected credentials must not replay the old response.
    write_jsonl(file, [google_row("u-1", "b@example.com")])
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert IdempotencyKeys(file).key(_valid(1, "u-1")) != first
