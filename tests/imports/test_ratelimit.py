"""The token bucket that paces an import, driven by an injected clock."""

import asyncio

import pytest

from app.imports.ratelimit import TokenBucket


class FakeTime:
    """A clock that moves only when a test sets it, and a sleep that records its wake-up times."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.wake_times: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.wake_times.append(self.now + seconds)


def _start_times(bucket: TokenBucket, time: FakeTime, requests: int) -> list[float]:
    """Reserve `requests` tokens at the current fake time; return when each may start."""
    return [time.now + bucket.reserve() for _ in range(requests)]


def test_first_request_starts_at_once() -> None:
    time = FakeTime()
    bucket = TokenBucket(40, clock=time.clock, sleep=time.sleep)

    assert bucket.reserve() == 0.0


def test_requests_spaced_by_interval() -> None:
    time = FakeTime()
    bucket = TokenBucket(40, clock=time.clock, sleep=time.sleep)

    starts = _start_times(bucket, time, 5)

    assert starts == pytest.approx([1_000.0, 1_000.025, 1_000.05, 1_000.075, 1_000.1])


def test_one_second_window_holds_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(40, clock=time.clock, sleep=time.sleep)

    starts = _start_times(bucket, time, 400)

    # Every half-open one-second window [t, t + 1) starting at a request contains at most 40.
    busiest = max(sum(1 for s in starts if t <= s < t + 1 - 1e-9) for t in starts)
    assert busiest == 40
    assert starts[-1] - starts[0] == pytest.approx(399 / 40)


def test_concurrent_callers_get_distinct_slots() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, clock=time.clock, sleep=time.sleep)

    async def acquire_all() -> None:
        await asyncio.gather(*(bucket.acquire() for _ in range(5)))

    asyncio.run(acquire_all())

    # The first caller did not sleep; the others wake one interval apart.
    assert time.wake_times == pytest.approx([1_000.1, 1_000.2, 1_000.3, 1_000.4])
    assert bucket.admitted == 5


def test_idle_time_refills_up_to_capacity() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, capacity=3, clock=time.clock, sleep=time.sleep)
    _start_times(bucket, time, 3)

    time.now += 60  # idle for a minute: the bucket has 3 tokens again, not 600

    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.1])


def test_capacity_allows_burst() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, capacity=3, clock=time.clock, sleep=time.sleep)

    waits = [bucket.reserve() for _ in range(5)]

    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_waiting_reservations_keep_rate_after_pause() -> None:
    time = FakeTime()
    bucket = TokenBucket(10, clock=time.clock, sleep=time.sleep)
    _start_times(bucket, time, 3)  # reserved up to 0.2 s ahead

    time.now += 0.05

    # The next start is after the last reservation, not 0.1 s after now.
    assert time.now + bucket.reserve() == pytest.approx(1_000.3)


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (10, 0.5)])
def test_invalid_limits_rejected(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, capacity=capacity)
