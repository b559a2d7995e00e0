"""Faults that tests inject into the simulated Nylas operations.

A fault applies to one operation (or to all of them) for its next `times` calls, or until it
is cleared when `times` is None. Its effects, in order:

- `latency`: a real `asyncio.sleep`, so client timeouts fire. Without `status` or `reset` the
  request takes effect first and only its response is delayed, so a client that times out has
  lost the response of a request that succeeded, as on a real network.
- `reset`: the connection drops before the request takes effect.
- `status`: a canned response replaces the operation. `body` may be a str or bytes (sent raw,
  for example an HTML 502 page), another JSON value (serialised as is, odd shapes included),
  or None (the usual Nylas error envelope for that status). A raw body without `content_type`
  is labelled `application/json` when it parses as JSON, else `text/plain`. `headers` are
  added, for example `Retry-After`.
"""

import asyncio
import json
from dataclasses import dataclass, field

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from app.simulator.errors import default_error

OPERATIONS = ("connect_custom", "get_grant", "list_grants", "update_grant", "delete_grant")
ALL_OPERATIONS = "all"


class SimulatedConnectionReset(Exception):
    """Raised inside the app to drop the connection; the transport turns it into a read error."""


@dataclass
class Fault:
    """One injected fault. `times` counts down as calls consume it; None never runs out."""

    operation: str = ALL_OPERATIONS
    status: int | None = None
    # str and bytes are sent raw; any other value is serialised as JSON.
    body: object = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    latency: float = 0.0
    reset: bool = False
    times: int | None = 1

    def __post_init__(self) -> None:
        if self.operation != ALL_OPERATIONS and self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)} or all")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code from 100 to 599")
        if self.latency < 0:
            raise ValueError("latency must be zero or more seconds")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None to apply until cleared")
        self._check_effects()

    @property
    def replaces_response(self) -> bool:
        return self.reset or self.status is not None

    def matches(self, operation: str) -> bool:
        return self.operation in (ALL_OPERATIONS, operation)

    async def delay(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def response(self, request_id: str) -> Response:
        """Build the canned response; only valid when `replaces_response` is True."""
        if self.reset:
            return ConnectionResetResponse()

        status = self.status if self.status is not None else 500
        if self.body is None:
            envelope = default_error(status).envelope(request_id)
            headers = {"X-Request-Id": request_id, **self.headers}
            return JSONResponse(envelope, status_code=status, headers=headers)
        if isinstance(self.body, (str, bytes)):
            media_type = self.content_type or _guess_media_type(self.body)
            return Response(
                self.body, status_code=status, headers=self.headers, media_type=media_type
            )

        content = json.dumps(self.body).encode()
        media_type = self.content_type or "application/json"
        return Response(content, status_code=status, headers=self.headers, media_type=media_type)

    def describe(self) -> dict[str, object]:
        """Summarise the fault for the control API."""
        return {
            "operation": self.operation,
            "status": self.status,
            "latency": self.latency,
            "reset": self.reset,
            "times": self.times,
        }

    def _check_effects(self) -> None:
        if self.reset and (self.status is not None or self.body is not None):
            raise ValueError("a reset sends no response, so status and body cannot be set with it")
        if self.body is not None and self.status is None:
            raise ValueError("a fault with a body needs a status")
        if not self.reset and self.status is None and self.latency == 0:
            raise ValueError("a fault needs a status, a latency or reset=True")
        if self.body is not None and not isinstance(self.body, (str, bytes)):
            try:
                json.dumps(self.body)
            except (TypeError, ValueError):
                raise ValueError("body must be str, bytes or a JSON-serialisable value") from None


class FaultRegistry:
    """Pending faults, applied in the order they were injected."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, operation: str) -> Fault | None:
        """Return the first fault that applies to `operation`, consuming one of its uses."""
        for fault in self._faults:
            if not fault.matches(operation):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
            return fault
        return None

    def clear(self, operation: str | None = None) -> None:
        """Remove every fault, or only those injected for `operation`."""
        if operation is None:
            self._faults.clear()
            return
        self._faults = [fault for fault in self._faults if fault.operation != operation]

    def pending(self) -> list[dict[str, object]]:
        return [fault.describe() for fault in self._faults]


def _guess_media_type(body: str | bytes) -> str:
    """Label a raw body that parses as JSON as JSON, and anything else as plain text."""
    try:
        json.loads(body)
    except ValueError:
        return "text/plain"
    return "application/json"


class ConnectionResetResponse(Response):
    """A response that starts and then drops the connection without a body."""

    def __init__(self) -> None:
        super().__init__(status_code=502)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # NOTE: ASGI gives an app no way to reset a TCP connection. The in-process transport
        # turns this exception into httpx.ReadError. Under uvicorn the status line has gone out
        # and the declared body never comes, so uvicorn closes the connection and an httpx
        # client raises RemoteProtocolError (incomplete body) rather than a reset error.
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-length", b"1")],
            }
        )
        raise SimulatedConnectionReset("connection dropped by an injected fault")
