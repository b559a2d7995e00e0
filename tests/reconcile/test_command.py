"""The `reconcile` command in a child process: report on stdout and exit status."""

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import utc_now
from tests.imports.commands import ServedSimulator, command_environment, run_command
from tests.status.seeding import seed_records, seed_simulator


def test_delete_orphans_needs_apply(tmp_path: Path) -> None:
    environment = command_environment(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", "")

    result = run_command(["reconcile", "--delete-orphans"], environment, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == "grant-broker: --delete-orphans needs --apply\n"


async def test_json_report_on_stdout(
    settings: Settings,
    served_simulator: ServedSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    day_ago = utc_now() - timedelta(days=1)
    grant_ids = seed_simulator(served_simulator.simulator, 3, created_at=day_ago)
    await seed_records(sessionmaker, grant_ids[:2], created_at=day_ago)
    environment = command_environment(settings.database_url, served_simulator.url, log_level="INFO")

    result = run_command(
        ["reconcile", "--format", "json", "--log-level", "INFO"], environment, cwd=tmp_path
    )

    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["counts"] == {"orphan": 1, "dangling": 0, "status_mismatch": 0}
    assert report["findings"][0]["grant_id"] == grant_ids[2]
    assert report["applied"] is False


def test_table_report_in_step_exits_0(
    settings: Settings, served_simulator: ServedSimulator, tmp_path: Path
) -> None:
    environment = command_environment(settings.database_url, served_simulator.url)

    result = run_command(["reconcile"], environment, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "orphans 0, dangling records 0, status mismatches 0"
    assert result.stderr == ""
