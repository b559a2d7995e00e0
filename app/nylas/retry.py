"""When and how long the Nylas client waits before it repeats a failed request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from app.nylas.errors import NylasConnectionError, NylasError, NylasTimeout

if TYPE_CHECKING:
    from app.core.config import Settings

# Nylas returns these when it, a gateway or the provider is briefly overloaded or down.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

_DELAY_SECONDS = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class RetryPolicy:
    """Limits on repeating one Nylas operation.

    Attributes:
        max_attempts: requests per operation, the first one included.
        budget: seconds one operation may take, requests and waits included.
        backoff_initial: seconds of the first backoff, which doubles per attempt.
        backoff_max: seconds that no single backoff exceeds.
        retry_after_cap: seconds that a server's `Retry-After` wait is cut to. Nylas's CLI
            uses 30 s.
    """

    max_attempts: int
    budget: float
    backoff_initial: float
    backoff_max: float
    retry_after_cap: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("budget", "backoff_initial", "backoff_max", "retry_after_cap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than 0 seconds")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.nylas_max_attempts,
            budget=settings.nylas_retry_budget,
            backoff_initial=settings.nylas_backoff_initial,
            backoff_max=settings.nylas_backoff_max,
        )

    def backoff(self, attempt: int, random_value: float) -> float:
        """Return the jittered wait in seconds after failed attempt number `attempt` (from 1).

        The wait is between half and all of the exponential delay, so that broker replicas
        throttled at the same moment do not retry in step. `random_value` is in [0, 1).
        """
        # The exponent is capped so a large attempt number cannot overflow a float.
        exponential = min(self.backoff_max, self.backoff_initial * 2.0 ** min(attempt - 1, 60))
        return exponential / 2 + exponential / 2 * random_value

    def wait_before_retry(self, error: NylasError, attempt: int, random_value: float) -> float:
        """Return the seconds to wait before the next attempt: backoff, or longer when the
        server sent `Retry-After` (cut to `retry_after_cap`)."""
        delay = self.backoff(attempt, random_value)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.retry_after_cap))
        return delay


def is_retryable(error: NylasError) -> bool:
    """Return True when repeating the request may succeed: throttling, upstream trouble or
    no response."""
    if isinstance(error, NylasTimeout | NylasConnectionError):
        return True
    return error.status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Parse a `Retry-After` header into seconds from `now` (Unix seconds).

    The header contains either whole seconds or an HTTP date. A fractional number of seconds is
    accepted too. A date in the past gives 0, and an unreadable value gives None.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.match(value):
        return float(value)
    moment = parse_http_date(value)
    return None if moment is None else max(0.0, moment - now)


def parse_http_date(value: str | None) -> float | None:
    """Parse an HTTP date such as `Wed, 21 Oct 2015 07:28:00 GMT` into Unix seconds."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        # HTTP dates are always GMT. The parser returns a naive value for a "-0000" zone.
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
