"""Access to Google Secret Manager through the official client, REST transport, bounded in time."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from google.api_core import exceptions as google_exceptions
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry, if_exception_type
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.secretmanager import SecretManagerServiceClient
from pydantic import SecretStr

from app.secrets.checksum import crc32c
from app.secrets.errors import SecretAccessError, SecretLoadReason

# An access that outlives its timeout keeps its thread until the socket gives up. A small
# private pool keeps such threads from starving the event loop's default executor.
_MAX_THREADS = 4
# The client checks its deadline only between attempts, so one slow attempt can run past it.
# The event loop stops waiting this much later, whatever the thread is doing.
_GRACE_SECONDS = 0.5
# Waits between attempts: random up to 0.2 s, the bound doubling up to 1 s (google-api-core's
# full jitter), until the access timeout is spent.
_BACKOFF_INITIAL_SECONDS = 0.2
_BACKOFF_MAX_SECONDS = 1.0
# Transient failures worth another attempt. The client's own default retries only the first
# two, for up to 60 s.
_RETRYABLE = (
    google_exceptions.ServiceUnavailable,
    google_exceptions.TooManyRequests,
    google_exceptions.InternalServerError,
    requests.ConnectionError,
)


class SecretManagerAccess:
    """Reads secret versions with `SecretManagerServiceClient` over REST.

    `endpoint` None uses Google's endpoint with Application Default Credentials (on GKE,
    Workload Identity). An `http://` endpoint (an emulator or a test fake) uses anonymous
    credentials. An `https://` endpoint, such as a Private Service Connect address, uses
    Application Default Credentials. Every access, retries included, ends within about
    `timeout` seconds.
    """

    def __init__(self, *, endpoint: str | None, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._endpoint = endpoint
        self._timeout = timeout
        self._retry = Retry(
            initial=_BACKOFF_INITIAL_SECONDS,
            maximum=_BACKOFF_MAX_SECONDS,
            multiplier=2.0,
            predicate=if_exception_type(*_RETRYABLE),
            timeout=timeout,
        )
        # Created on first use, in a worker thread, because finding Application Default
        # Credentials can block on the network.
        self._client: SecretManagerServiceClient | None = None
        self._client_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="secret-manager")

    @property
    def endpoint(self) -> str | None:
        return self._endpoint

    async def access(self, name: str) -> tuple[SecretStr, str]:
        """Read the version `name` and return its value and resolved version name.

        `.../versions/latest` resolves to the newest version, for example
        `projects/p/secrets/s/versions/7`. Raises `SecretAccessError`.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout + _GRACE_SECONDS):
                return await loop.run_in_executor(self._executor, self._access_blocking, name)
        except TimeoutError:
            detail = f"no response within {self._timeout:g} s"
            raise SecretAccessError(SecretLoadReason.TIMED_OUT, detail) from None

    def close(self) -> None:
        """Close the HTTP session. Threads still waiting on Secret Manager finish on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._client_lock:
            if self._client is not None:
                self._client.transport.close()  # type: ignore[no-untyped-call]
                self._client = None

    def __repr__(self) -> str:
        return f"SecretManagerAccess(endpoint={self._endpoint!r}, timeout={self._timeout!r})"

    def _access_blocking(self, name: str) -> tuple[SecretStr, str]:
        try:
            client = self._get_client()
            response = client.access_secret_version(
                request={"name": name}, retry=self._retry, timeout=self._timeout
            )
        except _CLIENT_ERRORS as exc:
            raise access_error(exc) from exc

        data: bytes = response.payload.data
        if "data_crc32c" in response.payload and crc32c(data) != response.payload.data_crc32c:
            raise SecretAccessError(SecretLoadReason.CHECKSUM_MISMATCH)
        return SecretStr(_decode(data)), str(response.name)

    def _get_client(self) -> SecretManagerServiceClient:
        with self._client_lock:
            if self._client is None:
                self._client = _create_client(self._endpoint)
            return self._client


_CLIENT_ERRORS = (
    google_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    requests.RequestException,
)


def uses_anonymous_credentials(endpoint: str | None) -> bool:
    """Tell whether `endpoint` is a plain-HTTP emulator or fake, which takes no credentials."""
    return endpoint is not None and endpoint.startswith("http://")


def _create_client(endpoint: str | None) -> SecretManagerServiceClient:
    if endpoint is None:
        return SecretManagerServiceClient(transport="rest")
    options = ClientOptions(api_endpoint=endpoint)
    if uses_anonymous_credentials(endpoint):
        return SecretManagerServiceClient(
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            transport="rest",
            client_options=options,
        )
    return SecretManagerServiceClient(transport="rest", client_options=options)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretAccessError(SecretLoadReason.NOT_UTF8) from None

    # `echo KEY | gcloud secrets versions add --data-file=-` stores a trailing newline, and
    # whitespace around an API key is never part of it.
    text = text.strip()
    if not text:
        raise SecretAccessError(SecretLoadReason.EMPTY_VALUE)
    return text


def access_error(exc: Exception) -> SecretAccessError:
    """Translate an exception of the client, google-auth or requests into a `SecretAccessError`."""
    if isinstance(exc, google_exceptions.RetryError):
        return _retry_error(exc)
    if isinstance(exc, google_exceptions.GoogleAPICallError):
        return _api_error(exc)
    # After a 401 the client refreshes its credentials once, and anonymous credentials raise
    # InvalidOperation (a DefaultCredentialsError) there. The cause is the server's rejection.
    if isinstance(exc, auth_exceptions.InvalidOperation):
        detail = "HTTP 401, credentials cannot be refreshed"
        return SecretAccessError(SecretLoadReason.UNAUTHENTICATED, detail)
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return SecretAccessError(SecretLoadReason.NO_CREDENTIALS, type(exc).__name__)
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return SecretAccessError(SecretLoadReason.UNAUTHENTICATED, type(exc).__name__)
    # ConnectTimeout is both a Timeout and a ConnectionError, so timeouts are checked first.
    if isinstance(exc, requests.Timeout):
        return SecretAccessError(SecretLoadReason.TIMED_OUT, type(exc).__name__)
    if isinstance(exc, requests.ConnectionError):
        return SecretAccessError(SecretLoadReason.UNREACHABLE, type(exc).__name__)
    return SecretAccessError(SecretLoadReason.FAILED, type(exc).__name__)


def _retry_error(exc: google_exceptions.RetryError) -> SecretAccessError:
    """Report the last failure before the retry deadline, which is more specific than a timeout."""
    if isinstance(exc.cause, Exception):
        last = access_error(exc.cause)
        return SecretAccessError(last.reason, f"{last.detail}, retried until the timeout")
    return SecretAccessError(SecretLoadReason.TIMED_OUT, "retried until the timeout")


def _api_error(exc: google_exceptions.GoogleAPICallError) -> SecretAccessError:
    detail = f"HTTP {exc.code}" if exc.code is not None else type(exc).__name__
    if isinstance(exc, google_exceptions.NotFound):
        return SecretAccessError(SecretLoadReason.NOT_FOUND, detail)
    if isinstance(exc, google_exceptions.PermissionDenied | google_exceptions.Forbidden):
        return SecretAccessError(SecretLoadReason.PERMISSION_DENIED, detail)
    if isinstance(exc, google_exceptions.Unauthenticated | google_exceptions.Unauthorized):
        return SecretAccessError(SecretLoadReason.UNAUTHENTICATED, detail)
    if _is_failed_precondition(exc):
        return SecretAccessError(SecretLoadReason.DISABLED_OR_DESTROYED, detail)
    if isinstance(exc, google_exceptions.TooManyRequests | google_exceptions.ServerError):
        return SecretAccessError(SecretLoadReason.UNAVAILABLE, detail)
    if isinstance(exc, google_exceptions.ClientError):
        return SecretAccessError(SecretLoadReason.INVALID_REQUEST, detail)
    return SecretAccessError(SecretLoadReason.FAILED, detail)


def _is_failed_precondition(exc: google_exceptions.GoogleAPICallError) -> bool:
    """Tell whether Secret Manager refused a disabled or destroyed version.

    It returns HTTP 400 with the status FAILED_PRECONDITION for those. The REST transport maps
    every 400 to `BadRequest`, so the status is read from the JSON error body.
    """
    if isinstance(exc, google_exceptions.FailedPrecondition):
        return True
    response = exc.response
    if not isinstance(response, requests.Response):
        return False
    try:
        status: object = response.json().get("error", {}).get("status")
    except (ValueError, AttributeError):
        return False
    return status == "FAILED_PRECONDITION"
