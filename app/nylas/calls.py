"""Execution of one Nylas API call: attempts, retries, API key refresh and logging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx
import structlog
from pydantic import SecretStr

from app.nylas.auth import ApiKeyProvider
from app.nylas.errors import (
    NylasConnectionError,
    NylasError,
    NylasInvalidResponse,
    NylasTimeout,
    NylasUnauthorized,
)
from app.nylas.redaction import Redactor, excerpt
from app.nylas.responses import decode_json, error_from_response, request_id_of
from app.nylas.retry import RetryPolicy, is_retryable

log = structlog.get_logger(__name__)

ResultT = TypeVar("ResultT")

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]
Random = Callable[[], float]
ParseResponse = Callable[[httpx.Response, Redactor], ResultT]

# Shortest timeout given to an attempt, so a nearly spent budget still yields a clean timeout.
_MIN_ATTEMPT_SECONDS = 0.01

# Client errors that are ordinary outcomes (bad input, missing grant), not incidents.
_EXPECTED_FAILURE_STATUSES = frozenset({400, 403, 404})


@dataclass(frozen=True)
class NylasCall:
    """One Nylas API request, described once and sent again unchanged on each attempt.

    `content` contains the encoded JSON body with any credentials in clear, and `secrets` lists
    them for redaction. Both are left out of `repr()`.
    """

    operation: str
    method: str
    path: str
    params: Mapping[str, str | int] = field(default_factory=dict)
    content: bytes | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    log_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _CallState:
    deadline: float
    key: SecretStr
    attempt: int = 1
    key_refreshed: bool = False
    # Every API key sent during the call, so a late echo of a replaced key is redacted too.
    keys_sent: list[str] = field(default_factory=list)


class CallObserver(Protocol):
    """Receives every attempt and retry, for metrics. `outcome` is `success` or an error kind."""

    def observe_nylas_attempt(self, operation: str, outcome: str, seconds: float) -> None: ...

    def observe_nylas_retry(self, operation: str) -> None: ...


class _NoObserver:
    def observe_nylas_attempt(self, operation: str, outcome: str, seconds: float) -> None:
        return None

    def observe_nylas_retry(self, operation: str) -> None:
        return None


def outcome_of(error: NylasError) -> str:
    """Return a short, bounded label for an error: the class name without its prefix."""
    name = type(error).__name__.removeprefix("Nylas")
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_") or "error"


class CallRunner:
    """Sends `NylasCall`s with the retry policy and API key refresh of the Nylas client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: ApiKeyProvider,
        retry: RetryPolicy,
        sleep: Sleep,
        clock: Clock,
        random: Random,
        observer: CallObserver | None = None,
    ) -> None:
        self._http = http
        self._api_key = api_key
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._random = random
        self._observer: CallObserver = observer or _NoObserver()

    async def run(self, call: NylasCall, parse: ParseResponse[ResultT]) -> ResultT:
        """Send `call` until it succeeds or the policy gives up, then parse the 2xx response.

        Raises the `NylasError` of the last attempt. An error raised by the API key provider's
        refresh propagates unchanged.
        """
        state = _CallState(deadline=self._clock() + self._retry.budget, key=self._api_key.current())
        while True:
            state.keys_sent.append(state.key.get_secret_value())
            redactor = Redactor([*call.secrets, *state.keys_sent])
            outcome = await self._attempt(call, state, redactor)
            if isinstance(outcome, httpx.Response):
                return self._parse(call, state, outcome, redactor, parse)

            if await self._renewed_key(call, outcome, state):
                continue

            delay = self._delay_before_retry(outcome, state)
            if delay is None:
                self._log_failed(call, outcome, state)
                raise outcome

            self._log_retrying(call, outcome, state, delay)
            self._observer.observe_nylas_retry(call.operation)
            await self._sleep(delay)
            state.attempt += 1

    async def _attempt(
        self, call: NylasCall, state: _CallState, redactor: Redactor
    ) -> httpx.Response | NylasError:
        """Send the request once and return the 2xx response or the error it produced."""
        started = self._clock()
        outcome = await self._attempt_once(call, state, redactor, started)
        label = "success" if isinstance(outcome, httpx.Response) else outcome_of(outcome)
        self._observer.observe_nylas_attempt(call.operation, label, self._clock() - started)
        return outcome

    async def _attempt_once(
        self, call: NylasCall, state: _CallState, redactor: Redactor, started: float
    ) -> httpx.Response | NylasError:
        remaining = max(state.deadline - self._clock(), _MIN_ATTEMPT_SECONDS)
        try:
            response = await self._send(call, state.key, remaining)
        except (httpx.TimeoutException, TimeoutError) as exc:
            return _transport_error(NylasTimeout, call, exc, redactor)
        except httpx.TransportError as exc:
            return _transport_error(NylasConnectionError, call, exc, redactor)
        except httpx.DecodingError as exc:
            return _transport_error(NylasInvalidResponse, call, exc, redactor)

        self._log_response(call, state, response, redactor, started)
        if response.is_success:
            return response
        return error_from_response(call.operation, response, redactor)

    async def _send(self, call: NylasCall, key: SecretStr, remaining: float) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
        if call.content is not None:
            headers["Content-Type"] = "application/json"

        # httpx timeouts apply per connect and per socket read, so a server that trickles
        # bytes could outlast them. The overall timeout keeps each attempt inside the budget.
        async with asyncio.timeout(remaining):
            return await self._http.request(
                call.method,
                call.path,
                params=call.params,
                content=call.content,
                headers=headers,
                timeout=self._clipped_timeout(remaining),
            )

    def _clipped_timeout(self, remaining: float) -> httpx.Timeout:
        configured = self._http.timeout
        return httpx.Timeout(
            connect=_clip(configured.connect, remaining),
            read=_clip(configured.read, remaining),
            write=_clip(configured.write, remaining),
            pool=_clip(configured.pool, remaining),
        )

    async def _renewed_key(self, call: NylasCall, error: NylasError, state: _CallState) -> bool:
        """Ask the key provider for a new key after Nylas rejected the current one, once per
        call. The repeat with a new key does not count against `max_attempts`."""
        if state.key_refreshed or not isinstance(error, NylasUnauthorized):
            return False
        if not error.api_key_rejected:
            return False

        state.key_refreshed = True
        log.warning(
            "nylas.api_key.rejected",
            operation=call.operation,
            nylas_request_id=error.request_id,
            **call.log_fields,
        )
        if not await self._api_key.refresh_after_rejection(state.key):
            return False

        state.key = self._api_key.current()
        return True

    def _delay_before_retry(self, error: NylasError, state: _CallState) -> float | None:
        """Return the wait before the next attempt, or None when the call must stop.

        On stopping, a retryable error gets `retry_after` (if the server sent none) so the
        caller can tell its own client when to come back.
        """
        if not is_retryable(error):
            return None

        delay = self._retry.wait_before_retry(error, state.attempt, self._random())
        out_of_attempts = state.attempt >= self._retry.max_attempts
        out_of_budget = delay >= state.deadline - self._clock()
        if out_of_attempts or out_of_budget:
            if error.retry_after is None:
                error.retry_after = delay
            return None
        return delay

    def _parse(
        self,
        call: NylasCall,
        state: _CallState,
        response: httpx.Response,
        redactor: Redactor,
        parse: ParseResponse[ResultT],
    ) -> ResultT:
        try:
            return parse(response, redactor)
        except NylasError as error:
            self._log_failed(call, error, state)
            raise

    def _log_response(
        self,
        call: NylasCall,
        state: _CallState,
        response: httpx.Response,
        redactor: Redactor,
        started: float,
    ) -> None:
        request_id = request_id_of(response, decode_json(response))
        log.debug(
            "nylas.request",
            operation=call.operation,
            attempt=state.attempt,
            status=response.status_code,
            nylas_request_id=redactor.redact(request_id) if request_id else None,
            duration_ms=round((self._clock() - started) * 1000, 1),
            **call.log_fields,
        )

    def _log_retrying(
        self, call: NylasCall, error: NylasError, state: _CallState, delay: float
    ) -> None:
        log.info(
            "nylas.request.retrying",
            operation=call.operation,
            attempt=state.attempt,
            status=error.status,
            error=type(error).__name__,
            nylas_request_id=error.request_id,
            delay=round(delay, 3),
            **call.log_fields,
        )

    def _log_failed(self, call: NylasCall, error: NylasError, state: _CallState) -> None:
        expected = error.status in _EXPECTED_FAILURE_STATUSES
        emit = log.info if expected else log.warning
        emit(
            "nylas.request.failed",
            operation=call.operation,
            attempts=state.attempt,
            status=error.status,
            error=type(error).__name__,
            nylas_error_type=error.error_type,
            nylas_request_id=error.request_id,
            retry_after=error.retry_after,
            **call.log_fields,
        )


def _clip(configured: float | None, remaining: float) -> float:
    return remaining if configured is None else min(configured, remaining)


def _transport_error(
    error_class: type[NylasError], call: NylasCall, exc: Exception, redactor: Redactor
) -> NylasError:
    """Build the error for an attempt that got no usable response, chained to its cause."""
    error = error_class(operation=call.operation, detail=excerpt(_describe(exc), redactor))
    error.__cause__ = exc
    return error


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        # Raised by the overall timeout of `_send`, not by httpx.
        return "the retry budget ran out before the response was complete"
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
