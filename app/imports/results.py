"""The per-row result file of an import: one JSON object per line, never a credential.

Each line has `row` (the row's line number in the input file), `user_id`, `outcome`,
`grant_id`, `error_type` and `error`. Lines are written as rows finish, which is not file
order because rows run concurrently, and each is flushed at once so a crash keeps every
finished row. With `--resume` a run appends to the file of the previous run; the last line
for a row is its outcome.
"""

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO


class Outcome(StrEnum):
    REGISTERED = "registered"  # a new record: the user had no grant
    UPDATED = "updated"  # the user's record now has the minted grant (re-authenticated or replaced)
    SKIPPED = "skipped"  # the user already holds a valid grant of the row's provider
    VALID = "valid"  # dry run: the row passed validation
    INVALID = "invalid"  # the row failed validation, so Nylas was not called
    FAILED = "failed"  # the registration failed

    @property
    def succeeded(self) -> bool:
        return self in _SUCCEEDED


_SUCCEEDED = frozenset({Outcome.REGISTERED, Outcome.UPDATED, Outcome.SKIPPED, Outcome.VALID})
# Outcomes after which a resumed run leaves the row alone (a dry run's `valid` registers nothing).
_DONE = frozenset({Outcome.REGISTERED, Outcome.UPDATED, Outcome.SKIPPED})


@dataclass(frozen=True)
class RowResult:
    row: int
    user_id: str | None
    outcome: Outcome
    grant_id: str | None = None
    error_type: str | None = None
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


class ResultWriter:
    """Writes results to a file as they come, and counts them by outcome."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._append = append
        self._file: TextIO | None = None

    def __enter__(self) -> Self:
        self._file = self.path.open("a" if self._append else "w", encoding="utf-8")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, result: RowResult) -> None:
        if self._file is None:
            raise RuntimeError("open the ResultWriter with `with` before writing")
        self._file.write(result.to_json() + "\n")
        self._file.flush()


def read_done_rows(path: Path) -> dict[int, str]:
    """Return the user id of each row that a previous run registered or skipped.

    Only the last line of a row counts. Lines that are not result objects, such as a line cut
    short by a crash, are ignored. A missing file gives an empty mapping.
    """
    done: dict[int, str] = {}
    if not path.exists():
        return done
    for result in _read_results(path):
        if result.outcome in _DONE and result.user_id is not None:
            done[result.row] = result.user_id
        else:
            done.pop(result.row, None)
    return done


def _read_results(path: Path) -> Iterator[RowResult]:
    with path.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            result = _parse_result(line)
            if result is not None:
                yield result


def _parse_result(line: str) -> RowResult | None:
    try:
        value = json.loads(line)
        return RowResult(
            row=int(value["row"]),
            user_id=value.get("user_id"),
            outcome=Outcome(value["outcome"]),
            grant_id=value.get("grant_id"),
        )
    except (ValueError, KeyError, TypeError):
        return None
