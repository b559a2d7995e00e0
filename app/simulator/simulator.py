"""`NylasSimulator`: the simulated Nylas application and its Python control API."""

import time
from collections.abc import Callable, Iterable

import structlog
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from app.simulator.api import http_exception_handler, nylas_routes
from app.simulator.control import control_routes
from app.simulator.faults import ALL_OPERATIONS, OPERATIONS, Fault
from app.simulator.providers import PROVIDERS
from app.simulator.recorder import RecordedRequest
from app.simulator.state import DEFAULT_RATE_LIMIT_PER_SECOND, SimulatorState
from app.simulator.transport import SimulatorTransport

log = structlog.get_logger(__name__)

# Accepted when the constructor gets no `api_keys`; the simulator never runs against real data.
DEFAULT_API_KEY = "nylas-simulator-key"


class NylasSimulator:
    """One simulated Nylas application, served by the ASGI app `app`.

    Use it in-process through `transport()`, or run `app` with uvicorn. Every control method
    has an HTTP twin under `/_simulator/` (see `app.simulator.control`).
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str | SecretStr] | None = None,
        rate_limit_per_second: int = DEFAULT_RATE_LIMIT_PER_SECOND,
        wall_clock: Callable[[], float] = time.time,
        monotonic_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the application.

        `rate_limit_per_second` applies separately to the Grants API and the Authentication
        API. `wall_clock` gives grant timestamps (Unix seconds). `monotonic_clock` drives the
        rate-limit windows.
        """
        self._state = SimulatorState(
            wall_clock=wall_clock,
            monotonic_clock=monotonic_clock,
            rate_limit_per_second=rate_limit_per_second,
        )
        initial_keys = list(api_keys) if api_keys is not None else [DEFAULT_API_KEY]
        self._state.accept_api_keys(initial_keys)
        self._initial_key_digests = self._state.api_key_digests
        self.app = Starlette(
            routes=[*nylas_routes(self._state), *control_routes(self)],
            exception_handlers={HTTPException: http_exception_handler},
        )

    def transport(self) -> SimulatorTransport:
        """Return an httpx transport that sends requests to `app` without a socket."""
        return SimulatorTransport(self.app)

    def accept_api_keys(self, api_keys: Iterable[str | SecretStr]) -> None:
        """Replace the set of accepted API keys; requests with any other key get 401."""
        self._state.accept_api_keys(api_keys)
        log.info("simulator.api_keys.replaced", count=len(self._state.api_key_digests))

    def bind_credential(
        self, *, provider: str, secret: str, email: str, password: str | None = None
    ) -> None:
        """Map a credential to the mailbox `email`, overriding the derived mailbox.

        `secret` is the refresh token for OAuth providers and the login name (`imap_username`,
        `username`, `ews_username`) for IMAP, iCloud and EWS. With `password`, logins must
        also present that password, else they fail with `invalid_grant`.
        """
        self._state.credentials.bind(provider, secret, email, password)

    def revoke_credential(self, *, provider: str, secret: str) -> None:
        """Make later authentications with the credential fail with `invalid_grant`.

        `secret` is the refresh token for OAuth providers, and the login name or the password
        for IMAP, iCloud and EWS. Existing grants stay valid until `expire_grant` is called.
        """
        self._state.credentials.revoke(provider, secret)

    def expire_grant(self, grant_id: str) -> None:
        """Mark the grant invalid; raise GrantNotFoundError when it does not exist."""
        self._state.grants.expire(grant_id)
        log.info("simulator.grant.expired", grant_id=grant_id)

    def delete_grant(self, grant_id: str) -> None:
        """Delete the grant as its user would at Nylas; raise GrantNotFoundError if unknown."""
        self._state.grants.delete(grant_id)
        log.info("simulator.grant.deleted", grant_id=grant_id)

    @property
    def grants(self) -> dict[str, dict[str, object]]:
        """Return a copy of the grants, by id, as `GET /v3/grants/{grant_id}` renders them."""
        return self._state.grants.snapshot()

    @property
    def connectors(self) -> frozenset[str]:
        return frozenset(self._state.connectors)

    def add_connector(self, provider: str) -> None:
        _check_provider(provider)
        self._state.connectors.add(provider)

    def remove_connector(self, provider: str) -> None:
        """Remove the provider's connector, so `connect/custom` for it fails with 400."""
        _check_provider(provider)
        self._state.connectors.discard(provider)

    def inject_fault(
        self,
        *,
        operation: str = ALL_OPERATIONS,
        status: int | None = None,
        body: object = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        latency: float = 0.0,
        reset: bool = False,
        times: int | None = 1,
    ) -> None:
        """Apply a fault to the next `times` calls of `operation`, or until cleared if None.

        The effects are described in `app.simulator.faults`. Raises ValueError on an invalid
        combination, such as a body without a status.
        """
        fault = Fault(
            operation=operation,
            status=status,
            body=body,
            content_type=content_type,
            headers=dict(headers or {}),
            latency=latency,
            reset=reset,
            times=times,
        )
        self._state.faults.add(fault)
        log.info("simulator.fault.injected", **fault.describe())

    def clear_faults(self, operation: str | None = None) -> None:
        """Remove every pending fault, or only those injected for `operation`."""
        self._state.faults.clear(operation)

    def pending_faults(self) -> list[dict[str, object]]:
        return self._state.faults.pending()

    def call_count(self, operation: str) -> int:
        """Return how many requests `operation` received, faulted and rejected ones included."""
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}")
        return self._state.recorder.count(operation)

    def call_counts(self) -> dict[str, int]:
        counts = self._state.recorder.counts()
        return {operation: counts.get(operation, 0) for operation in OPERATIONS}

    def recorded_requests(self, operation: str | None = None) -> list[RecordedRequest]:
        """Return the latest 10 000 requests received, oldest first, secrets as placeholders."""
        return self._state.recorder.requests(operation)

    def reset(self) -> None:
        """Forget grants, credentials, faults and counts.

        Restore the connectors and the API keys given to the constructor.
        """
        self._state.clear()
        self._state.api_key_digests = self._initial_key_digests
        log.info("simulator.reset")


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(sorted(PROVIDERS))}")
