"""A token bucket that paces requests shared by concurrent workers."""

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class TokenBucket:
    """Admit requests at `rate` per second on average, with bursts of at most `capacity`.

    Tokens refill continuously at `rate` per second up to `capacity`, and each request takes
    one. A caller that finds the bucket empty reserves the next token before it sleeps, so
    concurrent callers queue in order and the reserved tokens never exceed the rate. With the
    default `capacity` of 1 there is no burst: request starts are at least `1 / rate` seconds
    apart, so any one-second window contains at most `rate` of them, plus one at its edge.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be greater than 0 requests per second, got {rate}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 token, got {capacity}")
        self.rate = rate
        self.capacity = capacity
        # Requests admitted so far.
        self.admitted = 0
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated_at = clock()

    async def acquire(self) -> None:
        """Wait until a request may start, and count it as started."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)

    def reserve(self) -> float:
        """Take a token now, possibly one not refilled yet; return the seconds until it is.

        No await happens between reading and updating the bucket, so concurrent callers on
        one event loop cannot take the same token.
        """
        now = self._clock()
        elapsed = max(0.0, now - self._updated_at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated_at = now

        # A negative balance is the tokens already promised to callers that are waiting.
        self._tokens -= 1
        self.admitted += 1
        return -self._tokens / self.rate if self._tokens < 0 else 0.0
