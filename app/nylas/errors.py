"""Errors raised by the Nylas client.

Every failed call raises a subclass of `NylasError`. The class follows the HTTP status, because
Nylas's `error.type` strings differ between its own services. `error_type` keeps it as a hint::

    NylasError                   any failed call, and itself for a status without its own class
     +-- NylasBadRequest         400: invalid request or bad provider credentials
     +-- NylasUnauthorized       401: API key rejected, or provider credential revoked
     +-- NylasForbidden          403: insufficient scopes
     +-- NylasNotFound           404: unknown or deleted grant
     +-- NylasRateLimited        429: Nylas or the provider throttled the application
     +-- NylasUnavailable        5xx, or no response at all
     |    +-- NylasTimeout           connect, read, write or pool timeout, or retry budget spent
     |    +-- NylasConnectionError   connection refused, reset or closed mid-response
     +-- NylasInvalidResponse    2xx whose body is not the documented JSON shape

Messages, `str()`, `repr()` and every attribute are built only from values that went through
the client's redaction, so they never contain the API key or a credential sent in the request.
The `__cause__` of a transport failure is the original httpx exception, whose message describes
the network failure and contains no request headers or body.
"""

from __future__ import annotations


class NylasError(Exception):
    """A Nylas API call that failed.

    Attributes:
        operation: client operation name, such as `connect_custom` or `get_grant`.
        status: HTTP status of the final response, or None when no response arrived.
        request_id: Nylas request id from the body, else from the `X-Request-Id` header.
        error_type: `error.type` from the body, only a hint because its values vary.
        detail: redacted excerpt of the error message or body, at most 200 characters.
        provider_error: `error.provider_error` as short string values, present only when the
            provider or its connector produced the error.
        retry_after: seconds the caller should wait before trying again, or None. It is the
            server's `Retry-After` when one was sent, else the client's next backoff delay
            when retries stopped early.
    """

    def __init__(
        self,
        *,
        operation: str,
        status: int | None = None,
        request_id: str | None = None,
        error_type: str | None = None,
        detail: str = "",
        provider_error: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.request_id = request_id
        self.error_type = error_type
        self.detail = detail
        self.provider_error = provider_error
        self.retry_after = retry_after
        super().__init__(self._summary())

    def _summary(self) -> str:
        outcome = f"HTTP {self.status}" if self.status is not None else "no response"
        parts = [f"Nylas {self.operation} failed: {outcome}"]
        if self.error_type:
            parts.append(f"({self.error_type})")
        if self.detail:
            parts.append(f"- {self.detail}")
        if self.request_id:
            parts.append(f"[request_id {self.request_id}]")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status={self.status!r}, "
            f"request_id={self.request_id!r}, error_type={self.error_type!r}, "
            f"detail={self.detail!r})"
        )


class NylasBadRequest(NylasError):
    """400: the request was invalid, or the provider rejected the credentials."""


class NylasUnauthorized(NylasError):
    """401: Nylas rejected the API key, or the provider credential was revoked."""

    @property
    def api_key_rejected(self) -> bool:
        """Whether Nylas itself rejected the API key (expired, revoked, rotated, wrong region).

        A 401 that carries `provider_error` is about the user's provider credential instead.
        """
        return self.provider_error is None


class NylasForbidden(NylasError):
    """403: the API key or grant lacks the scopes the call needs."""


class NylasNotFound(NylasError):
    """404: the grant is unknown or was deleted."""


class NylasRateLimited(NylasError):
    """429: Nylas (no `provider_error`) or the provider (with one) throttled the call."""


class NylasUnavailable(NylasError):
    """A 5xx status, or no usable response: Nylas or the provider is in trouble."""


class NylasTimeout(NylasUnavailable):
    """The call timed out, or the retry budget ran out while it was in flight."""


class NylasConnectionError(NylasUnavailable):
    """The connection to Nylas failed or broke before a complete response arrived."""


class NylasInvalidResponse(NylasError):
    """A 2xx response whose body could not be parsed into the documented shape."""


def error_class_for_status(status: int) -> type[NylasError]:
    """Return the error class for a non-2xx HTTP status."""
    if status >= 500:
        return NylasUnavailable
    return _CLASS_BY_STATUS.get(status, NylasError)


_CLASS_BY_STATUS: dict[int, type[NylasError]] = {
    400: NylasBadRequest,
    401: NylasUnauthorized,
    403: NylasForbidden,
    404: NylasNotFound,
    429: NylasRateLimited,
}
