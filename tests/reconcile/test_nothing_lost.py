"""A crash between Nylas minting a grant and the broker storing it loses nothing.

Nylas keeps one grant per mailbox, so the grant minted for a registration that never
committed stays at Nylas, held by no user. Reconciliation reports it as an orphan, and
registering the same user (the same mailbox) again binds that very grant.
"""

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine
from app.imports.importer import run_import
from app.imports.progress import Tally
from app.imports.ratelimit import TokenBucket
from app.imports.registrars import InProcessRegistrar
from app.imports.results import ResultWriter
from app.imports.rows import FileFormat, read_rows
from app.imports.runner import ImportRunner
from app.nylas.factory import open_nylas_client
from app.reconcile.findings import FindingKind, ReconcileReport
from app.simulator import NylasSimulator
from tests.imports.commands import ServedSimulator, command_environment, start_command
from tests.imports.conftest import google_row, options_for, read_results, write_jsonl
from tests.reconcile.conftest import FAST_RATE, reconcile, stored_grants

MAILBOX = "alice@example.com"


class CommitFailsSession(Session):
    """A session whose first commit fails as if the database connection dropped."""


@pytest.fixture
async def commit_fails_once(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session maker whose first commit raises OperationalError before it reaches the
    database, so the transaction rolls back; later commits succeed."""
    failures = [OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))]

    def fail_first_commit(session: Session) -> None:
        if failures:
            raise failures.pop()

    event.listen(CommitFailsSession, "before_commit", fail_first_commit)
    engine = create_engine(database_url)
    yield async_sessionmaker(
        engine,
        class_=AsyncSession,
        sync_session_class=CommitFailsSession,
        expire_on_commit=False,
    )
    await engine.dispose()
    event.remove(CommitFailsSession, "before_commit", fail_first_commit)


def _orphan_ids(report: ReconcileReport) -> list[str]:
    return [f.grant_id for f in report.findings if f.kind is FindingKind.ORPHAN]


async def _assert_found_then_bound(
    settings: Settings,
    simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    file: Path,
) -> None:
    """Reconcile (the orphan is reported), import again (it is bound), reconcile (in step)."""
    [minted] = simulator.grants
    assert await stored_grants(sessionmaker) == {}

    found = await reconcile(settings, simulator)

    assert _orphan_ids(found) == [minted]
    # Just minted: reported, and marked as possibly belonging to a registration in progress.
    assert found.findings[0].note is not None
    assert found.findings[0].email == MAILBOX
    assert found.exit_status == 1

    again = await run_import(settings, options_for(file), nylas_transport=simulator.transport())

    stored = await stored_grants(sessionmaker)
    assert again.exit_status == 0
    assert list(stored) == [minted]
    assert stored[minted].user_id == "u-1"
    assert list(simulator.grants) == [minted]
    assert [r["outcome"] for r in read_results(options_for(file).results)] == ["registered"]

    after = await reconcile(settings, simulator)

    assert after.findings == []
    assert after.exit_status == 0


async def test_commit_failure_grant_found_and_bound(
    settings: Settings,
    simulator: NylasSimulator,
    commit_fails_once: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", MAILBOX)])
    async with open_nylas_client(settings, transport=simulator.transport()) as nylas:
        with (
            file.open("rb") as rows,
            ResultWriter(tmp_path / "crash.jsonl", append=False) as writer,
        ):
            runner = ImportRunner(
                registrar=InProcessRegistrar(commit_fails_once, nylas),
                writer=writer,
                tally=Tally(1),
                bucket=TokenBucket(FAST_RATE),
                concurrency=1,
            )
            stop_reason = await runner.run(read_rows(rows, FileFormat.JSONL))

    [result] = read_results(tmp_path / "crash.jsonl")
    assert stop_reason is not None
    assert stop_reason.startswith("database error (ConnectionResetError): connection lost")
    assert result["outcome"] == "failed"
    assert result["grant_id"] is None
    await _assert_found_then_bound(settings, simulator, commit_fails_once, file)


async def test_killed_import_grant_found_and_bound(
    settings: Settings,
    served_simulator: ServedSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    simulator = served_simulator.simulator
    # Nylas mints the grant at once and holds the response, so the process can be killed
    # after the grant exists and before the broker has seen the answer.
    simulator.inject_fault(operation="connect_custom", latency=60.0)
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", MAILBOX)])
    environment = command_environment(settings.database_url, served_simulator.url)
    process = start_command(
        ["import", str(file), "--results", str(tmp_path / "killed.jsonl")],
        environment,
        cwd=tmp_path,
    )

    try:
        await _wait_for_grant(simulator, process_alive=lambda: process.poll() is None)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        # Reads what is left of the output and closes the pipes.
        process.communicate(timeout=30)
    simulator.clear_faults()

    assert process.returncode == -signal.SIGKILL
    assert (tmp_path / "killed.jsonl").read_text() == ""
    await _assert_found_then_bound(settings, simulator, sessionmaker, file)


async def _wait_for_grant(simulator: NylasSimulator, *, process_alive: Any) -> None:
    async with asyncio.timeout(60):
        # Polling: the simulator offers no event for a grant being created.
        while not simulator.grants:
            if not process_alive():
                pytest.fail("the import process ended before Nylas minted the grant")
            await asyncio.sleep(0.05)
