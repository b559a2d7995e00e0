"""Progress of an import: counts by outcome, rate and ETA, shown while the import runs.

On a terminal the progress is one line rewritten in place; otherwise (a log file, CI) a plain
line is written every few seconds, so the output stays readable.
"""

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import TextIO

from app.imports.results import Outcome

Clock = Callable[[], float]

# Rows per second are measured over about this many seconds, so the ETA follows the current
# pace rather than a fast start of skipped rows.
_RATE_WINDOW_SECONDS = 30.0
# A terminal line is redrawn this often.
_TERMINAL_INTERVAL_SECONDS = 0.5
# Erases the terminal line before it is redrawn (carriage return, then ANSI "erase line").
_REWRITE_LINE = "\r\x1b[K"


class Tally:
    """Counts of finished rows by outcome, with the rows expected in all when known."""

    def __init__(self, total: int | None, *, clock: Clock = time.monotonic) -> None:
        self.total = total
        self.counts: Counter[Outcome] = Counter()
        # Rows left alone because the results of a previous run list them as done.
        self.resumed = 0
        self._clock = clock
        self.started_at = clock()
        self._samples: deque[tuple[float, int]] = deque([(self.started_at, 0)])

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome] += 1

    @property
    def finished(self) -> int:
        return sum(self.counts.values()) + self.resumed

    @property
    def failed(self) -> int:
        return self.counts[Outcome.FAILED] + self.counts[Outcome.INVALID]

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started_at

    def rate(self) -> float:
        """Return the rows finished per second over the recent window."""
        now = self._clock()
        handled = sum(self.counts.values())
        self._samples.append((now, handled))
        while len(self._samples) > 2 and now - self._samples[1][0] >= _RATE_WINDOW_SECONDS:
            self._samples.popleft()

        since, handled_then = self._samples[0]
        seconds = now - since
        return (handled - handled_then) / seconds if seconds > 0 else 0.0

    def eta(self, rate: float) -> float | None:
        """Return the seconds until every row is finished at `rate`, or None if unknown."""
        if self.total is None or rate <= 0:
            return None
        return max(0, self.total - self.finished) / rate


def format_duration(seconds: float) -> str:
    """Format seconds as `42s`, `3m 05s` or `2h 07m`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def describe(tally: Tally) -> str:
    """Return one progress line: finished rows, outcomes, rate and ETA."""
    rate = tally.rate()
    total = f"/{tally.total:,}" if tally.total is not None else ""
    counts = tally.counts
    succeeded = counts[Outcome.REGISTERED] + counts[Outcome.UPDATED] + counts[Outcome.VALID]
    parts = [
        f"{tally.finished:,}{total} rows",
        f"{succeeded:,} done",
        f"{counts[Outcome.SKIPPED] + tally.resumed:,} skipped",
        f"{tally.failed:,} failed",
        f"{rate:.1f} rows/s",
    ]
    eta = tally.eta(rate)
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    return ", ".join(parts)


class ProgressDisplay:
    """Writes the progress of `tally` to `stream` until `stop()`."""

    def __init__(self, tally: Tally, stream: TextIO, *, plain_interval: float) -> None:
        self.tally = tally
        self.stream = stream
        self.interactive = stream.isatty()
        self.interval = _TERMINAL_INTERVAL_SECONDS if self.interactive else plain_interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="import-progress")

    async def stop(self) -> None:
        """Stop the updates and leave the last state on screen (terminal only)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.interactive:
            self.show()
            self.stream.write("\n")
            self.stream.flush()

    def show(self) -> None:
        line = describe(self.tally)
        if self.interactive:
            self.stream.write(_REWRITE_LINE + line)
        else:
            self.stream.write(f"import: {line}\n")
        self.stream.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.show()
