"""The per-row result file and the rows a resumed import leaves alone."""

import json
from pathlib import Path

from app.imports.results import Outcome, ResultWriter, RowResult, read_done_rows


def _line(row: int, user_id: str | None, outcome: str) -> str:
    return json.dumps({"row": row, "user_id": user_id, "outcome": outcome}) + "\n"


def test_writer_flushes_each_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"

    with ResultWriter(path, append=False) as writer:
        writer.write(RowResult(3, "u-1", Outcome.REGISTERED, grant_id="g-1"))
        # Readable before the writer closes, as after a crash.
        written = path.read_text()

    assert json.loads(written) == {
        "row": 3,
        "user_id": "u-1",
        "outcome": "registered",
        "grant_id": "g-1",
        "error_type": None,
        "error": None,
    }


def test_writer_appends_when_resuming(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(_line(1, "u-1", "registered"))

    with ResultWriter(path, append=True) as writer:
        writer.write(RowResult(2, "u-2", Outcome.FAILED, error_type="x", error="y"))

    assert len(path.read_text().splitlines()) == 2


def test_writer_replaces_without_resume(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(_line(1, "u-1", "registered"))

    with ResultWriter(path, append=False) as writer:
        writer.write(RowResult(2, "u-2", Outcome.SKIPPED))

    assert [json.loads(line)["row"] for line in path.read_text().splitlines()] == [2]


def test_done_rows_last_line_counts(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(
        _line(1, "u-1", "registered")
        + _line(2, "u-2", "failed")
        + _line(3, "u-3", "skipped")
        + _line(4, "u-4", "updated")
        + _line(2, "u-2", "registered")
        + _line(4, "u-4", "failed")
        + _line(5, "u-5", "valid")
        + _line(6, None, "invalid")
        + '{"row": 7, "user_id": "u-7", "outc'
    )

    assert read_done_rows(path) == {1: "u-1", 2: "u-2", 3: "u-3"}


def test_done_rows_missing_file(tmp_path: Path) -> None:
    assert read_done_rows(tmp_path / "absent.jsonl") == {}
