"""Importing in process against the simulator, on SQLite and PostgreSQL."""

import asyncio
import io
import os
import signal
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import delete
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.grants.models import Grant, GrantStatus
from app.imports.importer import run_import
from app.imports.registrars import IMPORT_ACTOR
from app.simulator import NylasSimulator
from tests.imports.conftest import (
    google_row,
    options_for,
    read_results,
    stored_by_user,
    write_csv,
    write_jsonl,
)

# Google refresh tokens start with "1//", which no user id can contain.
TOKEN_CANARY = "1//canary-refresh-token-e41b"
PASSWORD_CANARY = "canary-imap-password-9c2d"


async def test_import_registers_rows(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    file = write_jsonl(
        tmp_path / "users.jsonl",
        [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 6)],
    )

    report = await run_import(
        settings, options_for(file), nylas_transport=fast_simulator.transport()
    )

    stored = await stored_by_user(sessionmaker)
    results = read_results(options_for(file).results)
    assert report.exit_status == 0
    assert sorted(stored) == ["u-1", "u-2", "u-3", "u-4", "u-5"]
    assert {grant.email for grant in stored.values()} == {
        f"user{n}@example.com" for n in range(1, 6)
    }
    assert {grant.registered_by for grant in stored.values()} == {IMPORT_ACTOR}
    assert [(r["row"], r["user_id"], r["outcome"]) for r in results] == [
        (n, f"u-{n}", "registered") for n in range(1, 6)
    ]
    assert [r["grant_id"] for r in results] == [stored[f"u-{n}"].grant_id for n in range(1, 6)]
    assert fast_simulator.call_count("connect_custom") == 5


async def test_import_csv_file(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    file = write_csv(
        tmp_path / "users.csv",
        ["user_id", "provider", "refresh_token", "imap_username", "imap_password", "imap_host"],
        [
            ["u-1", "google", "sim:alice@example.com:1", "", "", ""],
            ["u-2", "imap", "", "bob@example.net", PASSWORD_CANARY, "imap.example.net"],
        ],
    )

    report = await run_import(
        settings, options_for(file), nylas_transport=fast_simulator.transport()
    )

    stored = await stored_by_user(sessionmaker)
    assert report.exit_status == 0
    assert stored["u-1"].email == "alice@example.com"
    assert stored["u-2"].email == "bob@example.net"
    assert stored["u-2"].scopes == []


async def test_rerun_skips_registered_users(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 4)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)
    await run_import(settings, options_for(file), nylas_transport=fast_simulator.transport())
    first = await stored_by_user(sessionmaker)
    # u-2's grant turned invalid since: the rerun registers that row again.
    async with sessionmaker() as session, session.begin():
        first_u2 = await session.get(Grant, first["u-2"].id)
        assert first_u2 is not None
        first_u2.grant_status = GrantStatus.INVALID

    report = await run_import(
        settings, options_for(file), nylas_transport=fast_simulator.transport()
    )

    results = read_results(options_for(file).results)
    assert report.exit_status == 0
    assert [(r["user_id"], r["outcome"]) for r in results] == [
        ("u-1", "skipped"),
        ("u-2", "updated"),
        ("u-3", "skipped"),
    ]
    assert results[0]["grant_id"] == first["u-1"].grant_id
    assert fast_simulator.call_count("connect_custom") == 4


async def test_resume_trusts_previous_results(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 4)]
    file = write_jsonl(tmp_path / "users.jsonl", [*rows, {"user_id": "u-4"}])
    await run_import(settings, options_for(file), nylas_transport=fast_simulator.transport())
    # With the records gone, a lookup would register the rows again; --resume does not look.
    async with sessionmaker() as session, session.begin():
        await session.exec(delete(Grant))

    report = await run_import(
        settings, options_for(file, resume=True), nylas_transport=fast_simulator.transport()
    )

    lines = options_for(file).results.read_text().splitlines()
    assert report.tally.resumed == 3
    assert report.exit_status == 1  # row 4 is invalid in both runs
    assert len(lines) == 4 + 1
    assert await stored_by_user(sessionmaker) == {}
    assert fast_simulator.call_count("connect_custom") == 3


async def test_dry_run_calls_nothing(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    file = write_jsonl(
        tmp_path / "users.jsonl",
        [google_row("u-1", "a@example.com"), {"user_id": "u-2", "provider": "google"}],
    )
    # The dry run needs neither a database nor an API key.
    offline = settings.model_copy(
        update={"database_url": "sqlite+aiosqlite:////nonexistent/db", "nylas_api_key": None}
    )

    report = await run_import(
        offline, options_for(file, dry_run=True), nylas_transport=fast_simulator.transport()
    )

    results = read_results(options_for(file).results)
    assert [(r["row"], r["outcome"]) for r in results] == [(1, "valid"), (2, "invalid")]
    assert results[1]["error"] == "settings: Field required"
    assert report.exit_status == 1
    assert sum(fast_simulator.call_counts().values()) == 0
    assert await stored_by_user(sessionmaker) == {}


async def test_rejected_credentials_fail_row(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    fast_simulator.revoke_credential(provider="google", secret="sim:bad@example.com:token")
    file = write_jsonl(
        tmp_path / "users.jsonl",
        [google_row("u-1", "good@example.com"), google_row("u-2", "bad@example.com")],
    )

    report = await run_import(
        settings, options_for(file), nylas_transport=fast_simulator.transport()
    )

    results = read_results(options_for(file).results)
    assert report.exit_status == 1
    assert report.stop_reason is None
    assert results[0]["outcome"] == "registered"
    assert results[1]["outcome"] == "failed"
    assert results[1]["error_type"] == "credentials-rejected"
    assert results[1]["error"].startswith("Nylas or the provider rejected the credentials")
    assert sorted(await stored_by_user(sessionmaker)) == ["u-1"]


async def test_rejected_api_key_stops_import(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    fast_simulator.accept_api_keys(["another-key"])
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 31)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)

    report = await run_import(
        settings, options_for(file, concurrency=1), nylas_transport=fast_simulator.transport()
    )

    results = read_results(options_for(file).results)
    assert report.exit_status == 2
    assert report.stop_reason == "The Nylas API key was rejected; check the key and its region."
    # The first row failed and the import stopped: the other rows stay for a later run.
    assert [(r["row"], r["outcome"], r["error_type"]) for r in results] == [
        (1, "failed", "import-stopped")
    ]
    assert "stopped early" in report.summary()


async def test_concurrency_bounded(
    settings: Settings,
    fast_simulator: NylasSimulator,
    tmp_path: Path,
) -> None:
    fast_simulator.inject_fault(operation="connect_custom", latency=0.05, times=None)
    transport = InFlightTransport(fast_simulator)
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 21)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)

    report = await run_import(settings, options_for(file, concurrency=3), nylas_transport=transport)

    assert report.exit_status == 0
    assert transport.max_in_flight == 3


async def test_secrets_never_written(
    settings: Settings,
    fast_simulator: NylasSimulator,
    tmp_path: Path,
    log_output: io.StringIO,
) -> None:
    fast_simulator.revoke_credential(provider="google", secret=TOKEN_CANARY)
    imap_settings = {"imap_username": "bob@example.net", "imap_password": PASSWORD_CANARY}
    file = write_jsonl(
        tmp_path / "users.jsonl",
        [
            {"user_id": "u-1", "provider": "google", "settings": {"refresh_token": TOKEN_CANARY}},
            {"user_id": "u-2", "provider": "imap", "settings": imap_settings},
            {
                "user_id": "u-3",
                "provider": "imap",
                "settings": {**imap_settings, "imap_port": PASSWORD_CANARY},
            },
            f'{{"user_id": "u-4", "settings": {{"refresh_token": {TOKEN_CANARY}}}}}',
            {"user_id": TOKEN_CANARY, "provider": "google", "settings": {}},
        ],
    )
    progress = io.StringIO()

    report = await run_import(
        settings,
        options_for(file, progress_interval=0.01),
        nylas_transport=fast_simulator.transport(),
        progress_stream=progress,
    )

    outcomes = [r["outcome"] for r in read_results(options_for(file).results)]
    written = "\n".join(
        [
            options_for(file).results.read_text(),
            log_output.getvalue(),
            progress.getvalue(),
            report.summary(),
        ]
    )
    assert outcomes == ["failed", "registered", "invalid", "invalid", "invalid"]
    assert TOKEN_CANARY not in written
    assert PASSWORD_CANARY not in written


class InFlightTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, counting the most requests in flight at once."""

    def __init__(self, simulator: NylasSimulator) -> None:
        self._inner = simulator.transport()
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


async def test_interrupted_import_keeps_rows_in_flight(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    fast_simulator.inject_fault(operation="connect_custom", latency=0.2, times=None)
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 41)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)
    task = asyncio.create_task(
        run_import(
            settings,
            options_for(file, concurrency=2),
            nylas_transport=fast_simulator.transport(),
            handle_signals=True,
        )
    )
    # Polling: the simulator counts requests but offers no event to wait on.
    while fast_simulator.call_count("connect_custom") < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    # The import's handler receives the signal, not pytest: it stops the import.
    os.kill(os.getpid(), signal.SIGINT)
    report = await task

    results = read_results(options_for(file).results)
    assert report.exit_status == 2
    assert report.stop_reason == "interrupted by a signal"
    assert [r["outcome"] for r in results] == ["registered", "registered"]
    assert sorted(await stored_by_user(sessionmaker)) == ["u-1", "u-2"]
