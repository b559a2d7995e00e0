"""Reading import rows from JSON Lines and CSV files, one row at a time.

A row's fields hold credentials, so they are read into memory only while the row is handled:
the readers yield rows lazily from an open file and keep nothing of earlier rows.

JSON Lines: one object per line, `{"user_id": ..., "provider": ..., "settings": {...}}` with
optional `scope` (a list) and `state`. Blank lines are skipped.

CSV: a header row, then one row per user. `user_id`, `provider`, `scope` (scopes separated by
spaces) and `state` are fields of the registration, and every other column is the setting of
that name. An empty cell counts as absent, so one file can mix providers whose settings differ.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

# Maximum length of a row, in bytes. Every registration field has a length limit far below
# this, so a longer line is a broken file (for example one without line breaks), not a row.
MAX_ROW_BYTES = 1024 * 1024

# CSV columns that are fields of the registration itself; all others are settings.
_REGISTRATION_COLUMNS = frozenset({"user_id", "provider", "scope", "state"})
_REQUIRED_COLUMNS = ("user_id", "provider")


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"

    @classmethod
    def for_path(cls, path: Path) -> "FileFormat":
        """Guess the format from the file name: `.csv` is CSV, anything else JSON Lines."""
        return cls.CSV if path.suffix.lower() == ".csv" else cls.JSONL


class InputFileError(Exception):
    """The rest of the file cannot be read, so the import stops.

    The message names the line and the problem, never a value from the file.
    """


@dataclass(frozen=True)
class SourceRow:
    """One row as read from the file, before validation.

    `number` is the row's line number in the file (for a CSV row with line breaks inside
    quotes, its last line). `fields` contains the credentials and is left out of `repr()`.
    `problem` says why the row could not be read as an object; `fields` is then None.
    """

    number: int
    fields: dict[str, object] | None = field(repr=False)
    problem: str | None = None


def read_rows(file: BinaryIO, file_format: FileFormat) -> Iterator[SourceRow]:
    """Yield the rows of an open binary file in the given format."""
    if file_format is FileFormat.CSV:
        return read_csv(file)
    return read_jsonl(file)


def read_jsonl(file: BinaryIO) -> Iterator[SourceRow]:
    """Yield one row per non-blank line of a JSON Lines file."""
    number = 0
    while True:
        line = file.readline(MAX_ROW_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
            _skip_rest_of_line(file)
            yield SourceRow(number, None, f"longer than {MAX_ROW_BYTES} bytes")
            continue
        if line.strip():
            yield _parse_json_line(number, line)


def _skip_rest_of_line(file: BinaryIO) -> None:
    while True:
        chunk = file.readline(MAX_ROW_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def _parse_json_line(number: int, line: bytes) -> SourceRow:
    try:
        # utf-8-sig drops the byte order mark that some editors put at the start of a file.
        text = line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        return SourceRow(number, None, "not valid UTF-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the parser's message and position: the text around the error may be a secret.
        return SourceRow(number, None, f"not valid JSON: {exc.msg} at column {exc.colno}")

    if not isinstance(value, dict):
        return SourceRow(number, None, "not a JSON object")
    return SourceRow(number, value)


def read_csv(file: BinaryIO) -> Iterator[SourceRow]:
    """Yield one row per record of a CSV file with a header row.

    Raises `InputFileError` when the header lacks a required column or names one twice, and
    when the file is not valid UTF-8 or breaks CSV quoting, because the rows after that point
    cannot be located reliably.
    """
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(text)
    finally:
        # The caller owns the binary file; a wrapper left to the garbage collector would
        # close it.
        text.detach()


def _csv_rows(text: io.TextIOWrapper) -> Iterator[SourceRow]:
    reader = csv.reader(text, strict=True)
    header = _read_header(reader)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _unreadable(reader.line_num, exc) from None
        if cells:
            yield _csv_row(reader.line_num, header, cells)


def _read_header(reader: Iterator[list[str]]) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InputFileError("line 1: the CSV file is empty; it needs a header row") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise _unreadable(1, exc) from None

    missing = [name for name in _REQUIRED_COLUMNS if name not in header]
    if missing:
        raise InputFileError(f"line 1: the CSV header lacks the column(s) {', '.join(missing)}")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputFileError(f"line 1: the CSV header names {', '.join(repeated)} twice")
    return header


def _unreadable(line: int, exc: Exception) -> InputFileError:
    if isinstance(exc, UnicodeDecodeError):
        return InputFileError(f"near line {line}: the file is not valid UTF-8")
    # The csv module's messages describe the quoting problem and quote no cell.
    return InputFileError(f"line {line}: invalid CSV: {exc}")


def _csv_row(number: int, header: list[str], cells: list[str]) -> SourceRow:
    if len(cells) > len(header):
        return SourceRow(number, None, "more cells than the header has columns")

    fields: dict[str, object] = {}
    settings: dict[str, object] = {}
    for name, cell in zip(header, cells, strict=False):
        if cell == "":
            continue
        if name not in _REGISTRATION_COLUMNS:
            settings[name] = cell
        elif name == "scope":
            fields["scope"] = cell.split()
        else:
            fields[name] = cell
    fields["settings"] = settings
    return SourceRow(number, fields)


def count_rows(path: Path, file_format: FileFormat) -> int | None:
    """Count the rows of the file for progress and ETA, or return None when it cannot.

    Reads the file once more, streaming. Returns None for a file that is not a regular file,
    such as a pipe, because it cannot be read twice. Returns None as well for a file that the
    readers would reject.
    """
    if not path.is_file():
        return None
    try:
        with path.open("rb") as file:
            if file_format is FileFormat.CSV:
                return sum(1 for _ in read_csv(file))
            return sum(1 for line in file if line.strip())
    except (InputFileError, OSError):
        return None
