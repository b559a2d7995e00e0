"""A request-rate budget for the Nylas calls of one sweep.

Nylas allows 50 Grants API requests per second per application, shared by every broker replica
and every other use of the API key. A sweep spends only its configured share of that.
"""

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class RequestPacer:
    """Space requests at least `1 / requests_per_second` seconds apart.

    This is a token bucket with room for one token, so no burst is allowed: a window of one
    second, open at one end, contains at most `ceil(requests_per_second)` request starts. Every
    caller that shares the pacer shares the budget, concurrent callers included.
    """

    def __init__(
        self,
        requests_per_second: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not requests_per_second > 0:
            raise ValueError(
                f"requests_per_second must be greater than 0, got {requests_per_second}"
            )
        self.interval = 1.0 / requests_per_second
        self.requests = 0
        self._clock = clock
        self._sleep = sleep
        self._next_start = -math.inf
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Wait until the next request may start, and count it as sent."""
        async with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
            self.requests += 1

        # The slot is reserved before sleeping, so concurrent callers queue up behind it.
        if start > now:
            await self._sleep(start - now)
