"""Reading rows from JSON Lines and CSV files."""

import io
from pathlib import Path

import pytest

from app.imports.rows import (
    MAX_ROW_BYTES,
    FileFormat,
    InputFileError,
    SourceRow,
    count_rows,
    read_csv,
    read_jsonl,
)

CANARY = "canary-refresh-token-7f3a"


def _jsonl(content: bytes) -> list[SourceRow]:
    return list(read_jsonl(io.BytesIO(content)))


def _csv(content: str) -> list[SourceRow]:
    return list(read_csv(io.BytesIO(content.encode())))


def test_jsonl_numbers_rows_by_line() -> None:
    rows = _jsonl(b'{"user_id": "u-1"}\n\n   \n{"user_id": "u-2"}\n{"user_id": "u-3"}')

    assert [row.number for row in rows] == [1, 4, 5]
    assert [row.fields for row in rows] == [{"user_id": f"u-{n}"} for n in (1, 2, 3)]


def test_jsonl_invalid_json_names_column_only() -> None:
    rows = _jsonl(f'{{"settings": {{"refresh_token": {CANARY}}}}}\n'.encode())

    assert rows[0].fields is None
    assert rows[0].problem is not None
    assert rows[0].problem.startswith("not valid JSON: Expecting value at column")
    assert CANARY not in rows[0].problem


@pytest.mark.parametrize("line", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_jsonl_non_object_row(line: bytes) -> None:
    rows = _jsonl(line + b"\n")

    assert rows == [SourceRow(1, None, "not a JSON object")]


def test_jsonl_byte_order_mark_ignored() -> None:
    rows = _jsonl(b'\xef\xbb\xbf{"user_id": "u-1"}\n')

    assert rows[0].fields == {"user_id": "u-1"}


def test_jsonl_invalid_utf8_row() -> None:
    rows = _jsonl(b'{"user_id": "\xff"}\n{"user_id": "u-2"}\n')

    assert rows[0] == SourceRow(1, None, "not valid UTF-8")
    assert rows[1].fields == {"user_id": "u-2"}


def test_jsonl_overlong_row_skipped() -> None:
    overlong = b'{"pad": "' + b"x" * (MAX_ROW_BYTES + 10) + b'"}\n'

    rows = _jsonl(overlong + b'{"user_id": "u-2"}\n')

    assert rows[0] == SourceRow(1, None, f"longer than {MAX_ROW_BYTES} bytes")
    assert rows[1] == SourceRow(2, {"user_id": "u-2"})


def test_source_row_repr_hides_fields() -> None:
    row = SourceRow(1, {"settings": {"refresh_token": CANARY}})

    assert CANARY not in repr(row)


def test_csv_columns_become_settings() -> None:
    content = (
        "user_id,provider,refresh_token,imap_username,imap_password,imap_port,scope\n"
        "u-1,google,rt-1,,,,openid email\n"
        "u-2,imap,,bob@example.net,pw,993,\n"
    )

    rows = _csv(content)

    assert rows[0] == SourceRow(
        2,
        {
            "user_id": "u-1",
            "provider": "google",
            "scope": ["openid", "email"],
            "settings": {"refresh_token": "rt-1"},
        },
    )
    assert rows[1].fields == {
        "user_id": "u-2",
        "provider": "imap",
        "settings": {"imap_username": "bob@example.net", "imap_password": "pw", "imap_port": "993"},
    }


def test_csv_quoted_line_break_numbers_last_line() -> None:
    rows = _csv('user_id,provider,state\nu-1,google,"two\nlines"\nu-2,google,\n')

    assert [row.number for row in rows] == [3, 4]
    assert rows[0].fields is not None
    assert rows[0].fields["state"] == "two\nlines"


def test_csv_short_row_missing_cells_absent() -> None:
    rows = _csv("user_id,provider,refresh_token\nu-1,google\n")

    assert rows[0].fields == {"user_id": "u-1", "provider": "google", "settings": {}}


def test_csv_extra_cells_rejected() -> None:
    rows = _csv(f"user_id,provider\nu-1,google,{CANARY}\n")

    assert rows == [SourceRow(2, None, "more cells than the header has columns")]


def test_csv_byte_order_mark_ignored() -> None:
    rows = list(read_csv(io.BytesIO(b"\xef\xbb\xbfuser_id,provider\nu-1,google\n")))

    assert rows[0].fields == {"user_id": "u-1", "provider": "google", "settings": {}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "line 1: the CSV file is empty; it needs a header row"),
        ("user,provider\nu-1,google\n", "line 1: the CSV header lacks the column(s) user_id"),
        (
            "user_id,provider,password,password\n",
            "line 1: the CSV header names password twice",
        ),
    ],
    ids=["empty", "missing-column", "repeated-column"],
)
def test_csv_bad_header(content: str, message: str) -> None:
    with pytest.raises(InputFileError) as raised:
        _csv(content)

    assert str(raised.value) == message


def test_csv_broken_quoting_stops() -> None:
    content = f'user_id,provider,refresh_token\nu-1,google,"{CANARY}"x\n'

    with pytest.raises(InputFileError) as raised:
        _csv(content)

    assert str(raised.value).startswith("line 2: invalid CSV:")
    assert CANARY not in str(raised.value)


def test_csv_invalid_utf8_stops() -> None:
    with pytest.raises(InputFileError) as raised:
        list(read_csv(io.BytesIO(b"user_id,provider\nu-1,\xff\xfe\n")))

    assert "not valid UTF-8" in str(raised.value)


def test_count_rows_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\nnot json\n')

    assert count_rows(path, FileFormat.JSONL) == 3


def test_count_rows_csv(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text('user_id,provider,state\nu-1,google,"a\nb"\n\nu-2,google,\n')

    assert count_rows(path, FileFormat.CSV) == 2


def test_count_rows_not_regular_file(tmp_path: Path) -> None:
    assert count_rows(tmp_path, FileFormat.JSONL) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("users.csv", FileFormat.CSV),
        ("USERS.CSV", FileFormat.CSV),
        ("users.jsonl", FileFormat.JSONL),
        ("users", FileFormat.JSONL),
    ],
)
def test_format_from_file_name(name: str, expected: FileFormat) -> None:
    assert FileFormat.for_path(Path(name)) is expected
