"""The `grant-broker` command line."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRANT_BROKER_")}
    return subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_creates_schema(tmp_path: Path) -> None:
    database = tmp_path / "migrated.db"
    env = {"GRANT_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}

    result = _run_cli("migrate", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"grants", "idempotency_keys", "alembic_version"} <= tables


def test_migrate_reports_revision(tmp_path: Path) -> None:
    env = {"GRANT_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"}

    result = _run_cli("migrate", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "the database is at revision 0002 (head)" in result.stdout


def test_migrate_older_revision_changes_nothing(tmp_path: Path) -> None:
    env = {"GRANT_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"}
    _run_cli("migrate", env=env, cwd=tmp_path)

    result = _run_cli("migrate", "--revision", "0001", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "past 0001; migrate only upgrades, so nothing changed" in result.stdout


def test_migrate_unknown_revision_lists_choices(tmp_path: Path) -> None:
    env = {"GRANT_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"}

    result = _run_cli("migrate", "--revision", "nope", env=env, cwd=tmp_path)

    assert result.returncode != 0
    assert "unknown revision 'nope': use one of head, 0001, 0002" in result.stderr
    assert not (tmp_path / "migrated.db").exists()


def test_migrate_failure_is_one_line(tmp_path: Path) -> None:
    cases = {
        "bogus://user:canary-pw@host/db": "not a supported database URL",
        f"sqlite:///{tmp_path / 'sync.db'}": "not a supported database URL",
        "postgresql+asyncpg://user:canary-pw@127.0.0.1:1/db": "failed to migrate the database",
    }
    for url, expected in cases.items():
        result = _run_cli("migrate", env={"GRANT_BROKER_DATABASE_URL": url}, cwd=tmp_path)

        assert result.returncode != 0, url
        assert expected in result.stderr, url
        assert "Traceback" not in result.stderr, url
        assert "canary-pw" not in result.stderr, url


def test_simulator_without_api_key_exits_with_message(tmp_path: Path) -> None:
    result = _run_cli("simulator", "--port", "1", env={}, cwd=tmp_path)

    assert result.returncode != 0
    assert "GRANT_BROKER_NYLAS_API_KEY is missing" in result.stderr


def test_invalid_setting_names_variable(tmp_path: Path) -> None:
    env = {"GRANT_BROKER_NYLAS_MAX_ATTEMPTS": "zero"}

    result = _run_cli("migrate", env=env, cwd=tmp_path)

    assert result.returncode != 0
    assert "GRANT_BROKER_NYLAS_MAX_ATTEMPTS" in result.stderr


def test_serve_without_api_key_exits_with_message(tmp_path: Path) -> None:
    result = _run_cli("serve", "--port", "1", env={}, cwd=tmp_path)

    assert result.returncode != 0
    assert "Set exactly one of GRANT_BROKER_NYLAS_API_KEY_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_plain_key_in_production(tmp_path: Path) -> None:
    env = {"GRANT_BROKER_NYLAS_API_KEY": "canary-plain-key-in-production"}

    result = _run_cli("serve", "--port", "1", env=env, cwd=tmp_path)

    assert result.returncode != 0
    assert "GRANT_BROKER_NYLAS_API_KEY" in result.stderr
    assert "canary-plain-key-in-production" not in result.stderr + result.stdout


def test_serve_refuses_auth_none_in_production(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("a-file-key")
    env = {"GRANT_BROKER_NYLAS_API_KEY_FILE": str(key_file), "GRANT_BROKER_AUTH_MODE": "none"}

    result = _run_cli("serve", "--port", "1", env=env, cwd=tmp_path)

    assert result.returncode != 0
    assert "GRANT_BROKER_AUTH_MODE" in result.stderr


def test_sweep_without_api_key_exits_with_message(tmp_path: Path) -> None:
    database = tmp_path / "sweep.db"
    env = {"GRANT_BROKER_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    assert _run_cli("migrate", env=env, cwd=tmp_path).returncode == 0

    result = _run_cli("sweep", env=env, cwd=tmp_path)

    assert result.returncode != 0
    assert "Set exactly one of GRANT_BROKER_NYLAS_API_KEY_SECRET" in result.stderr
