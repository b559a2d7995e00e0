"""The request pacer that keeps a sweep within its requests-per-second budget."""

import asyncio

import pytest

from app.status.budget import RequestPacer


class FakeTime:
    """A monotonic clock that only `sleep` moves, so pacing is exact and instant."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def _starts(pacer: RequestPacer, time: FakeTime, count: int) -> list[float]:
    starts = []
    for _ in range(count):
        await pacer.wait()
        starts.append(time.now)
    return starts


async def test_pacer_spaces_requests() -> None:
    time = FakeTime()
    pacer = RequestPacer(4.0, clock=time.clock, sleep=time.sleep)

    starts = await _starts(pacer, time, 5)

    assert starts == [100.0, 100.25, 100.5, 100.75, 101.0]
    assert pacer.requests == 5


async def test_pacer_no_burst_after_idle() -> None:
    time = FakeTime()
    pacer = RequestPacer(2.0, clock=time.clock, sleep=time.sleep)
    await pacer.wait()

    time.now += 10.0
    starts = await _starts(pacer, time, 3)

    # Idle time earns no credit: the requests after it are spaced as usual.
    assert starts == [110.0, 110.5, 111.0]


async def test_pacer_slow_calls_unpaced() -> None:
    time = FakeTime()
    pacer = RequestPacer(10.0, clock=time.clock, sleep=time.sleep)

    for _ in range(3):
        await pacer.wait()
        time.now += 0.5

    assert time.sleeps == []


async def test_pacer_shared_by_tasks() -> None:
    time = FakeTime()
    pacer = RequestPacer(5.0, clock=time.clock, sleep=time.sleep)

    async def request() -> float:
        await pacer.wait()
        return time.now

    starts = await asyncio.gather(*(request() for _ in range(4)))

    assert sorted(round(start, 6) for start in starts) == [100.0, 100.2, 100.4, 100.6]
    assert pacer.requests == 4


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_pacer_rejects_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="requests_per_second"):
        RequestPacer(rate)
