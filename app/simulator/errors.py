"""Nylas error envelopes and the exception the route handlers raise to produce one.

Every error body has the shape Nylas uses::

    {"request_id": "...", "error": {"type": "...", "message": "...", "provider_error": {...}}}

`provider_error` is present only when the provider (or the connector) produced the error.
Messages name fields and parameters but never contain a value that the caller submitted.
"""

from collections.abc import Mapping

INVALID_REQUEST = "invalid_request_error"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found_error"
RATE_LIMITED = "nylas_rate_limit_exceeded"

# Error type and message of the default envelope for each status a fault may inject.
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: (INVALID_REQUEST, "error parsing request body"),
    401: (UNAUTHORIZED, "Unauthorized"),
    403: ("insufficient_scopes", "missing provider scopes required for this request"),
    404: (NOT_FOUND, "requested object not found"),
    429: (RATE_LIMITED, "Too many requests, please try again shortly."),
    500: ("internal_error", "An internal error occurred."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "Service unavailable, please try again shortly."),
    504: ("provider_error", "Provider request timed out."),
}


class NylasApiError(Exception):
    """An error response of the simulated Nylas API, rendered as the usual envelope."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        provider_error: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.provider_error = dict(provider_error) if provider_error is not None else None

    def envelope(self, request_id: str) -> dict[str, object]:
        error: dict[str, object] = {"type": self.error_type, "message": self.message}
        if self.provider_error is not None:
            error["provider_error"] = self.provider_error
        return {"request_id": request_id, "error": error}


def invalid_request(message: str) -> NylasApiError:
    return NylasApiError(400, INVALID_REQUEST, message)


def invalid_grant(message: str) -> NylasApiError:
    """Build the 400 that Nylas returns when the provider rejects a credential."""
    return NylasApiError(400, INVALID_REQUEST, message, provider_error={"error": "invalid_grant"})


def grant_not_found() -> NylasApiError:
    return NylasApiError(404, NOT_FOUND, "grant not found")


def default_error(status: int) -> NylasApiError:
    """Build the envelope Nylas would send for `status`, for faults injected without a body."""
    error_type, message = DEFAULT_ERRORS.get(status, ("api_error", "Request failed."))
    return NylasApiError(status, error_type, message)
