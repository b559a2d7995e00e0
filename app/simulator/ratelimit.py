"""Nylas's per-application request rate limits, as sliding one-second windows."""

import time
from collections import deque
from collections.abc import Callable

# Nylas limits each application separately on these API groups (requests per second).
GRANTS_API = "grants"
AUTHENTICATION_API = "authentication"


class SlidingWindowRateLimiter:
    """Admit at most `limit` requests in any window of `window` seconds.

    Only admitted requests are remembered, so a client that backs off regains capacity exactly
    `window` seconds after its earliest admitted request.
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1 request per window")
        self._limit = limit
        self._window = window
        self._clock = clock
        self._admitted: deque[float] = deque()

    def try_acquire(self) -> bool:
        """Record a request and return True, or return False when the window is full."""
        now = self._clock()
        while self._admitted and self._admitted[0] <= now - self._window:
            self._admitted.popleft()

        if len(self._admitted) >= self._limit:
            return False
        self._admitted.append(now)
        return True

    def clear(self) -> None:
        self._admitted.clear()
