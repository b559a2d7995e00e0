"""Everything one simulated Nylas application keeps between requests."""

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import SecretStr

from app.simulator.faults import FaultRegistry
from app.simulator.grants import GrantStore
from app.simulator.mailbox import CredentialRegistry
from app.simulator.providers import PROVIDERS
from app.simulator.ratelimit import AUTHENTICATION_API, GRANTS_API, SlidingWindowRateLimiter
from app.simulator.recorder import CallRecorder

# Nylas's documented limit for the Grants API and for the Authentication API, per application.
DEFAULT_RATE_LIMIT_PER_SECOND = 50


def api_key_digest(api_key: str | SecretStr) -> str:
    raw = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class SimulatorState:
    """The grants, credentials, connectors, faults and counters of one Nylas application.

    API keys are kept only as SHA-256 digests, so no secret can leak from the state.
    """

    wall_clock: Callable[[], float] = time.time
    monotonic_clock: Callable[[], float] = time.monotonic
    rate_limit_per_second: int = DEFAULT_RATE_LIMIT_PER_SECOND
    grants: GrantStore = field(default_factory=GrantStore)
    credentials: CredentialRegistry = field(default_factory=CredentialRegistry)
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    recorder: CallRecorder = field(default_factory=CallRecorder)
    connectors: set[str] = field(default_factory=lambda: set(PROVIDERS))
    api_key_digests: frozenset[str] = field(default=frozenset(), repr=False)
    limiters: dict[str, SlidingWindowRateLimiter] = field(init=False)

    def __post_init__(self) -> None:
        self.limiters = {
            group: SlidingWindowRateLimiter(self.rate_limit_per_second, clock=self.monotonic_clock)
            for group in (GRANTS_API, AUTHENTICATION_API)
        }

    def now(self) -> int:
        """Return the wall-clock time in integer Unix seconds, the unit of grant timestamps."""
        return int(self.wall_clock())

    def accept_api_keys(self, api_keys: Iterable[str | SecretStr]) -> None:
        self.api_key_digests = frozenset(api_key_digest(key) for key in api_keys)

    def accepts_api_key(self, api_key: str) -> bool:
        presented = api_key_digest(api_key)
        return any(hmac.compare_digest(presented, known) for known in self.api_key_digests)

    def clear(self) -> None:
        """Forget grants, credentials, faults, counts and rate-limit windows; restore connectors."""
        self.grants.clear()
        self.credentials.clear()
        self.faults.clear()
        self.recorder.clear()
        self.connectors = set(PROVIDERS)
        for limiter in self.limiters.values():
            limiter.clear()
