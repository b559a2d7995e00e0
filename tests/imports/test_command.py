"""The `import` command in a child process: output, progress and exit status."""

import json
from pathlib import Path

from app.core.config import Settings
from tests.imports.commands import ServedSimulator, command_environment, run_command
from tests.imports.conftest import google_row, read_results, write_jsonl

NO_NYLAS = "http://127.0.0.1:9"


def _offline(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a command that stops before it uses the database or Nylas."""
    return command_environment(
        f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", NO_NYLAS, **settings
    )


def test_dry_run_valid_file_exits_0(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    result = run_command(
        ["import", str(file), "--dry-run"],
        _offline(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("import: dry run of users.jsonl: 1 rows in ")
    assert "results: users.jsonl.dry-run.jsonl" in result.stdout
    assert [r["outcome"] for r in read_results(tmp_path / "users.jsonl.dry-run.jsonl")] == ["valid"]


def test_dry_run_invalid_row_exits_1(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com"), "[]"])

    result = run_command(
        ["import", str(file), "--dry-run", "--results", "out.jsonl"],
        _offline(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert "  invalid              1" in result.stdout.splitlines()


def test_import_prints_summary_only_on_stdout(
    settings: Settings, served_simulator: ServedSimulator, tmp_path: Path
) -> None:
    rows = [google_row(f"u-{n}", f"user{n}@example.com") for n in range(1, 4)]
    file = write_jsonl(tmp_path / "users.jsonl", rows)
    environment = command_environment(settings.database_url, served_simulator.url, log_level="INFO")

    result = run_command(
        ["import", str(file), "--log-level", "INFO", "--progress-interval", "0.01"],
        environment,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "  registered           3",
        "  updated              0",
        "  skipped              0",
        "  invalid              0",
        "  failed               0",
        "results: users.jsonl.results.jsonl",
    ]
    # Log lines are JSON on stderr, next to plain progress lines.
    stderr = result.stderr.splitlines()
    events = [json.loads(line)["event"] for line in stderr if line.startswith("{")]
    assert "import.finished" in events
    assert any(line.startswith("import: ") for line in stderr)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_command(
        ["import", "absent.jsonl"],
        _offline(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert result.stderr == "grant-broker: absent.jsonl does not exist\n"


def test_token_file_needs_url(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    result = run_command(
        ["import", str(file), "--token-file", "token"],
        _offline(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert result.stderr == "grant-broker: --token-file needs --url\n"


def test_results_cannot_overwrite_input(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])

    result = run_command(
        ["import", str(file), "--results", str(file)],
        _offline(tmp_path),
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert "--results names the input file" in result.stderr
    assert "u-1" in file.read_text()


def test_unloadable_api_key_exits_2(tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "users.jsonl", [google_row("u-1", "a@example.com")])
    environment = _offline(tmp_path, env="production")

    result = run_command(["import", str(file)], environment, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("grant-broker: ")
    assert "GRANT_BROKER_NYLAS_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
