"""Progress lines: counts, rate and ETA, on a terminal and in a log."""

import asyncio
import io

import pytest

from app.imports.progress import ProgressDisplay, Tally, describe, format_duration
from app.imports.results import Outcome


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _tally(clock: FakeClock, total: int | None = 1_000) -> Tally:
    tally = Tally(total, clock=clock)
    clock.now += 10
    for outcome, count in [
        (Outcome.REGISTERED, 300),
        (Outcome.UPDATED, 50),
        (Outcome.SKIPPED, 40),
        (Outcome.FAILED, 6),
        (Outcome.INVALID, 4),
    ]:
        for _ in range(count):
            tally.add(outcome)
    return tally


def test_describe_counts_rate_eta() -> None:
    clock = FakeClock()
    tally = _tally(clock)

    line = describe(tally)

    # 400 rows in 10 s; 600 rows left at 40 rows/s take 15 s.
    assert line == "400/1,000 rows, 350 done, 40 skipped, 10 failed, 40.0 rows/s, ETA 15s"


def test_describe_without_total_has_no_eta() -> None:
    clock = FakeClock()
    tally = _tally(clock, total=None)

    assert describe(tally) == "400 rows, 350 done, 40 skipped, 10 failed, 40.0 rows/s"


def test_rate_follows_recent_window() -> None:
    clock = FakeClock()
    tally = Tally(None, clock=clock)
    # A fast start: 1,000 rows in 10 s.
    for _ in range(1_000):
        tally.add(Outcome.SKIPPED)
    clock.now += 10
    fast = tally.rate()
    # Then one row every 10 s for a minute.
    for _ in range(6):
        tally.add(Outcome.REGISTERED)
        clock.now += 10
        slow = tally.rate()

    assert fast == pytest.approx(100.0)
    # The last 30 s held 3 rows; the average since the start would be 1,006 / 70 s.
    assert slow == pytest.approx(3 / 30)


def test_resumed_rows_count_as_finished() -> None:
    clock = FakeClock()
    tally = Tally(10, clock=clock)
    tally.resumed = 4
    tally.add(Outcome.REGISTERED)

    assert tally.finished == 5
    assert describe(tally).startswith("5/10 rows, 1 done, 4 skipped")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.4, "59s"),
        (60, "1m 00s"),
        (245, "4m 05s"),
        (3_600, "1h 00m"),
        (7_620, "2h 07m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


async def test_terminal_rewrites_one_line() -> None:
    clock = FakeClock()
    stream = Terminal()
    display = ProgressDisplay(_tally(clock), stream, plain_interval=3600)

    display.start()
    await asyncio.sleep(1.2)  # the terminal line is redrawn every 0.5 s
    await display.stop()

    output = stream.getvalue()
    assert output.count("\r\x1b[K") == 3
    assert output.count("\n") == 1
    assert output.endswith("ETA 15s\n")


async def test_plain_stream_writes_lines() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    display = ProgressDisplay(_tally(clock), stream, plain_interval=0.2)

    display.start()
    await asyncio.sleep(0.5)
    await display.stop()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("import: 400/1,000 rows")
