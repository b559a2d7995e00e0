"""Errors of the grants domain, and the translation of Nylas failures into problem details."""

import math
from http import HTTPStatus
from typing import Any

from app.core.errors import ConflictError, NotFoundError, ProblemError, UnprocessableError
from app.nylas.errors import (
    NylasBadRequest,
    NylasConnectionError,
    NylasError,
    NylasForbidden,
    NylasRateLimited,
    NylasTimeout,
    NylasUnauthorized,
    NylasUnavailable,
)

# Suggested wait when Nylas gave none: long enough for a per-second rate limit window to pass.
_DEFAULT_RETRY_AFTER_SECONDS = 1
# Upper bound on the wait passed on to callers, whatever Nylas sent.
_MAX_RETRY_AFTER_SECONDS = 300


class GrantNotFound(NotFoundError):
    problem_type = "grant-not-found"
    title = "Grant not found"

    @classmethod
    def for_user(cls, user_id: str) -> "GrantNotFound":
        return cls(f"User {user_id!r} has no grant.")

    @classmethod
    def for_grant_id(cls) -> "GrantNotFound":
        # The id is left out: it is the caller's own input and may not be a grant id at all.
        return cls("Grant id not found: no user has this grant. Check the id.")


class MailboxHeldByAnotherUser(ConflictError):
    problem_type = "mailbox-held-by-another-user"
    title = "Mailbox already registered to another user"


class CredentialsRejected(UnprocessableError):
    problem_type = "credentials-rejected"
    title = "Credentials rejected"


class RegistrationRejected(UnprocessableError):
    problem_type = "registration-rejected"
    title = "Registration rejected by Nylas"


class NylasApiKeyRejected(ProblemError):
    status = HTTPStatus.BAD_GATEWAY
    problem_type = "nylas-api-key-rejected"
    title = "Nylas API key rejected"


class NylasFailed(ProblemError):
    status = HTTPStatus.BAD_GATEWAY
    problem_type = "nylas-failed"
    title = "Nylas request failed"


class NylasUnavailableProblem(ProblemError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    problem_type = "nylas-unavailable"
    title = "Nylas unavailable"


class NylasTimedOut(ProblemError):
    status = HTTPStatus.GATEWAY_TIMEOUT
    problem_type = "nylas-timed-out"
    title = "Nylas timed out"


def _retry_after_header(seconds: float | None) -> dict[str, str]:
    if seconds is None or not math.isfinite(seconds):
        wait = _DEFAULT_RETRY_AFTER_SECONDS
    else:
        wait = min(max(1, math.ceil(seconds)), _MAX_RETRY_AFTER_SECONDS)
    return {"Retry-After": str(wait)}


def _credentials_rejected(exc: NylasError) -> ProblemError:
    provider_error = getattr(exc, "provider_error", None) or {}
    return CredentialsRejected(
        "Nylas or the provider rejected the credentials: "
        f"{exc.detail or 'no reason given'}. Obtain fresh credentials and register again.",
        nylas_status=exc.status,
        nylas_request_id=exc.request_id,
        provider_error=provider_error.get("error"),
    )


def problem_from_nylas(exc: NylasError) -> ProblemError:
    """Translate a Nylas client error into the problem the caller receives."""
    upstream: dict[str, Any] = {"nylas_status": exc.status, "nylas_request_id": exc.request_id}
    if isinstance(exc, NylasUnauthorized) and exc.api_key_rejected:
        return NylasApiKeyRejected(
            "The Nylas API key was rejected; check the key and its region.", **upstream
        )
    if isinstance(exc, NylasBadRequest) and not exc.provider_error:
        # Without a provider_error the request itself was refused, not the credentials (for
        # example an IMAP username that is no address and no imap_host to go with it).
        return RegistrationRejected(
            f"Nylas rejected the registration: {exc.detail or 'no reason given'}. "
            "Fix the request and send it again.",
            **upstream,
        )
    if isinstance(exc, NylasBadRequest | NylasUnauthorized | NylasForbidden):
        return _credentials_rejected(exc)
    if isinstance(exc, NylasRateLimited):
        return NylasUnavailableProblem(
            "Nylas is rate limiting requests; retry after the given delay.",
            headers=_retry_after_header(exc.retry_after),
            **upstream,
        )
    if isinstance(exc, NylasTimeout) or exc.status == HTTPStatus.GATEWAY_TIMEOUT:
        return NylasTimedOut("Nylas did not answer in time; retry later.", **upstream)
    if isinstance(exc, NylasConnectionError) or exc.status == HTTPStatus.SERVICE_UNAVAILABLE:
        retry_after = getattr(exc, "retry_after", None)
        return NylasUnavailableProblem(
            "Nylas cannot be reached right now; retry later.",
            headers=_retry_after_header(retry_after),
            **upstream,
        )
    if isinstance(exc, NylasUnavailable):
        return NylasFailed("Nylas failed to handle the request; retry later.", **upstream)
    return NylasFailed(f"Nylas answered unexpectedly: {exc.detail}", **upstream)
