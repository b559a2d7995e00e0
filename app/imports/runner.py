"""The import loop: validate rows as they are read, register them with bounded concurrency.

One task reads and validates rows and puts valid ones on a bounded queue; `concurrency`
workers take rows off it. The queue contains at most twice as many rows as there are workers,
so memory stays flat however long the file is, and a row's credentials live only until its
registration ends. Every worker waits for a token of one shared `TokenBucket` before each
registration, so the rate limit applies to all workers together.
"""

import asyncio
from collections.abc import Iterable, Mapping

import structlog

from app.imports.progress import Tally
from app.imports.ratelimit import TokenBucket
from app.imports.registrars import ImportStopped, Registrar, RowFailed
from app.imports.results import Outcome, ResultWriter, RowResult
from app.imports.rows import InputFileError, SourceRow
from app.imports.validation import DuplicateUsers, InvalidRow, ValidRow, validate_row

log = structlog.get_logger(__name__)

# Rows waiting on the queue per worker.
_QUEUED_ROWS_PER_WORKER = 2


class ImportRunner:
    """Runs one import. Without a registrar it is a dry run: rows are only validated."""

    def __init__(
        self,
        *,
        registrar: Registrar | None,
        writer: ResultWriter,
        tally: Tally,
        bucket: TokenBucket,
        concurrency: int,
        done_rows: Mapping[int, str] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._registrar = registrar
        self._writer = writer
        self.tally = tally
        self._bucket = bucket
        self._concurrency = concurrency
        # Rows that the results of a previous run list as done, with their user ids.
        self._done_rows = done_rows or {}
        self.stop_reason: str | None = None

    async def run(self, rows: Iterable[SourceRow]) -> str | None:
        """Import `rows`; return why the import stopped early, or None when it reached the end.

        Rows already being registered when the import stops are finished and recorded. Queued
        rows are left without a result, so a later run picks them up.
        """
        queue: asyncio.Queue[ValidRow | None] = asyncio.Queue(
            maxsize=self._concurrency * _QUEUED_ROWS_PER_WORKER
        )
        # A dry run records every row while reading, so it needs no workers.
        workers = self._concurrency if self._registrar is not None else 0
        async with asyncio.TaskGroup() as group:
            group.create_task(self._feed(rows, queue, workers), name="import-reader")
            for number in range(workers):
                group.create_task(self._work(queue), name=f"import-worker-{number}")
        return self.stop_reason

    def stop(self, reason: str) -> None:
        """Stop reading rows and starting registrations; the first reason given is kept."""
        if self.stop_reason is None:
            self.stop_reason = reason
            log.warning("import.stopping", reason=reason)

    async def _feed(
        self, rows: Iterable[SourceRow], queue: asyncio.Queue[ValidRow | None], workers: int
    ) -> None:
        duplicates = DuplicateUsers()
        try:
            for row in rows:
                if self.stop_reason is not None:
                    break
                checked = self._check(row, duplicates)
                if isinstance(checked, ValidRow):
                    await queue.put(checked)
                elif checked is not None:
                    self._record(checked)
        except (InputFileError, OSError) as exc:
            self.stop(f"reading the input file failed: {exc}")

        # One end marker per worker.
        for _ in range(workers):
            await queue.put(None)

    def _check(self, row: SourceRow, duplicates: DuplicateUsers) -> ValidRow | RowResult | None:
        """Validate a row; return it to register, its result, or None to leave it alone."""
        checked = validate_row(row)
        if isinstance(checked, InvalidRow):
            return _invalid(checked)
        duplicate = duplicates.check(checked)
        if duplicate is not None:
            return _invalid(duplicate)

        if self._done_rows.get(row.number) == checked.user_id:
            self.tally.resumed += 1
            return None
        if self._registrar is None:
            return RowResult(row.number, checked.user_id, Outcome.VALID)
        return checked

    async def _work(self, queue: asyncio.Queue[ValidRow | None]) -> None:
        while (row := await queue.get()) is not None:
            if self.stop_reason is not None or self._registrar is None:
                continue  # drain the queue; these rows stay without a result
            result = await self._register(self._registrar, row)
            if result is not None:
                self._record(result)

    async def _register(self, registrar: Registrar, row: ValidRow) -> RowResult | None:
        try:
            existing = await registrar.existing_grant(row.registration)
            if existing is not None:
                return RowResult(row.number, row.user_id, Outcome.SKIPPED, grant_id=existing)

            await self._bucket.acquire()
            if self.stop_reason is not None:
                return None  # stopped while this row waited for its turn
            registered = await registrar.register(row)
        except RowFailed as exc:
            return _failed(row, exc.error_type, exc.message)
        except ImportStopped as exc:
            self.stop(str(exc))
            return _failed(row, "import-stopped", str(exc))
        except Exception as exc:
            # Only the type, no message or traceback: either could quote a credential.
            log.error(
                "import.row_error",
                row=row.number,
                user_id=row.user_id,
                error_type=type(exc).__name__,
            )
            return _failed(row, type(exc).__name__, "unexpected error")

        outcome = Outcome.REGISTERED if registered.created else Outcome.UPDATED
        return RowResult(row.number, row.user_id, outcome, grant_id=registered.grant_id)

    def _record(self, result: RowResult) -> None:
        self._writer.write(result)
        self.tally.add(result.outcome)
        if result.outcome is Outcome.FAILED:
            log.warning(
                "import.row_failed",
                row=result.row,
                user_id=result.user_id,
                error_type=result.error_type,
            )


def _invalid(row: InvalidRow) -> RowResult:
    return RowResult(
        row.number, row.user_id, Outcome.INVALID, error_type="invalid-row", error=row.message
    )


def _failed(row: ValidRow, error_type: str, message: str) -> RowResult:
    return RowResult(row.number, row.user_id, Outcome.FAILED, error_type=error_type, error=message)
