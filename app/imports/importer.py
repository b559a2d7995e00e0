"""One import run: open the file, the result file and the clients, run the rows, report."""

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import structlog
from pydantic import SecretStr

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.imports.console import EXIT_NOT_FINISHED
from app.imports.progress import ProgressDisplay, Tally, format_duration
from app.imports.ratelimit import TokenBucket
from app.imports.registrars import HttpRegistrar, IdempotencyKeys, InProcessRegistrar, Registrar
from app.imports.results import Outcome, ResultWriter, read_done_rows
from app.imports.rows import FileFormat, SourceRow, count_rows, read_rows
from app.imports.runner import ImportRunner
from app.nylas.factory import open_nylas_client

log = structlog.get_logger(__name__)

# A registration through a broker can take the broker's whole Nylas retry budget (20 s by
# default) and a database write, so the broker gets this long to respond.
_BROKER_READ_TIMEOUT_SECONDS = 60.0
_BROKER_CONNECT_TIMEOUT_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The outcomes listed in the summary, in this order.
_IMPORT_OUTCOMES = (
    Outcome.REGISTERED,
    Outcome.UPDATED,
    Outcome.SKIPPED,
    Outcome.INVALID,
    Outcome.FAILED,
)
_DRY_RUN_OUTCOMES = (Outcome.VALID, Outcome.INVALID)


@dataclass(frozen=True)
class ImportOptions:
    """Options of one import. `rate` is in registrations per second, and `url` selects a
    broker to post the rows to."""

    file: Path
    file_format: FileFormat
    results: Path
    dry_run: bool = False
    url: str | None = None
    token: SecretStr | None = None
    rate: float = 40.0
    concurrency: int = 8
    resume: bool = False
    progress_interval: float = 10.0


@dataclass(frozen=True)
class ImportReport:
    options: ImportOptions
    tally: Tally
    stop_reason: str | None

    @property
    def exit_status(self) -> int:
        """0 when every row succeeded, 1 when some failed, 2 when the import stopped early."""
        if self.stop_reason is not None:
            return EXIT_NOT_FINISHED
        return 1 if self.tally.failed else 0

    def summary(self) -> str:
        """Return the lines printed when the import ends."""
        tally = self.tally
        elapsed = max(tally.elapsed, 1e-9)
        handled = sum(tally.counts.values())
        mode = "dry run of " if self.options.dry_run else ""
        lines = [
            f"import: {mode}{self.options.file.name}: {tally.finished:,} rows in "
            f"{format_duration(elapsed)} ({handled / elapsed:.1f} rows/s, "
            f"limit {self.options.rate:g}/s)"
        ]
        outcomes = _DRY_RUN_OUTCOMES if self.options.dry_run else _IMPORT_OUTCOMES
        lines.extend(f"  {outcome.value:<12}{tally.counts[outcome]:>10,}" for outcome in outcomes)
        if tally.resumed:
            lines.append(f"  {'resumed':<12}{tally.resumed:>10,}  (done in an earlier run)")
        lines.append(f"results: {self.options.results}")
        if self.stop_reason is not None:
            lines.append(f"stopped early: {self.stop_reason}")
            lines.append("Fix the cause, then run the same command with --resume to go on.")
        return "\n".join(lines)


async def run_import(
    settings: Settings,
    options: ImportOptions,
    *,
    nylas_transport: httpx.AsyncBaseTransport | None = None,
    broker_transport: httpx.AsyncBaseTransport | None = None,
    progress_stream: TextIO = sys.stderr,
    handle_signals: bool = False,
) -> ImportReport:
    """Import the file and return the figures.

    `nylas_transport` and `broker_transport` replace the network (the Nylas simulator, a
    broker app). With `handle_signals`, SIGINT and SIGTERM stop the import after the rows in
    flight instead of cutting them off. Raises `SecretLoadError` when the Nylas API key cannot
    be loaded and `OSError` when a file cannot be opened.
    """
    done_rows = read_done_rows(options.results) if options.resume else {}
    tally = Tally(count_rows(options.file, options.file_format))

    async with _registrar(settings, options, nylas_transport, broker_transport) as registrar:
        with (
            options.file.open("rb") as file,
            ResultWriter(options.results, append=options.resume) as writer,
        ):
            runner = ImportRunner(
                registrar=registrar,
                writer=writer,
                tally=tally,
                bucket=TokenBucket(options.rate),
                concurrency=options.concurrency,
                done_rows=done_rows,
            )
            log.info(
                "import.started", file=options.file.name, rows=tally.total, dry_run=options.dry_run
            )
            rows = read_rows(file, options.file_format)
            display = ProgressDisplay(
                tally, progress_stream, plain_interval=options.progress_interval
            )
            stop_reason = await _run_with_progress(runner, rows, display, handle_signals)

    log.info(
        "import.finished",
        file=options.file.name,
        stop_reason=stop_reason,
        counts={str(outcome): count for outcome, count in tally.counts.items()},
    )
    return ImportReport(options, tally, stop_reason)


async def _run_with_progress(
    runner: ImportRunner, rows: Iterable[SourceRow], display: ProgressDisplay, handle_signals: bool
) -> str | None:
    display.start()
    try:
        with _stop_on_signals(runner, enabled=handle_signals):
            return await runner.run(rows)
    finally:
        await display.stop()


@contextmanager
def _stop_on_signals(runner: ImportRunner, *, enabled: bool) -> Iterator[None]:
    """Turn the first SIGINT or SIGTERM into `runner.stop()`; a second one ends the process."""
    if not enabled:
        yield
        return

    loop = asyncio.get_running_loop()

    def stop() -> None:
        runner.stop("interrupted by a signal")
        for number in _STOP_SIGNALS:
            loop.remove_signal_handler(number)

    for number in _STOP_SIGNALS:
        loop.add_signal_handler(number, stop)
    try:
        yield
    finally:
        for number in _STOP_SIGNALS:
            loop.remove_signal_handler(number)


@asynccontextmanager
async def _registrar(
    settings: Settings,
    options: ImportOptions,
    nylas_transport: httpx.AsyncBaseTransport | None,
    broker_transport: httpx.AsyncBaseTransport | None,
) -> AsyncIterator[Registrar | None]:
    if options.dry_run:
        yield None
    elif options.url is not None:
        async with _broker_client(options, broker_transport) as http:
            yield HttpRegistrar(http, IdempotencyKeys(options.file))
    else:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        try:
            async with open_nylas_client(settings, transport=nylas_transport) as nylas:
                yield InProcessRegistrar(create_sessionmaker(engine), nylas)
        finally:
            await engine.dispose()


def _broker_client(
    options: ImportOptions, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    headers = {"User-Agent": "grant-broker-import"}
    if options.token is not None:
        headers["Authorization"] = f"Bearer {options.token.get_secret_value()}"
    timeout = httpx.Timeout(_BROKER_READ_TIMEOUT_SECONDS, connect=_BROKER_CONNECT_TIMEOUT_SECONDS)
    return httpx.AsyncClient(
        base_url=options.url or "",
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
    )
