"""Where an import registers its rows: in this process, or at a running broker over HTTP.

Both registrars raise `RowFailed` for a failure of one row. They raise `ImportStopped` for a
failure that every later row would hit too: Nylas rejecting the API key, the database or the
broker unreachable, the broker rejecting the caller. The import then stops instead of
failing thousands of rows the same way.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import structlog
from pydantic import SecretStr
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import ProblemError
from app.grants.errors import NylasApiKeyRejected
from app.grants.models import GrantStatus
from app.grants.repository import GrantRepository
from app.grants.schemas import GrantRegistration
from app.grants.service import GrantService
from app.imports.validation import ValidRow
from app.nylas.client import NylasClient

log = structlog.get_logger(__name__)

# `registered_by` of records that an in-process import creates, and the actor of their events.
IMPORT_ACTOR = "grant-broker import"

# Maximum length of the error message kept for a row, in characters.
_MAX_MESSAGE_LENGTH = 300


class RowFailed(Exception):
    """The registration of one row failed; the next rows may still succeed."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message[:_MAX_MESSAGE_LENGTH]


class ImportStopped(Exception):
    """A failure that every later row would hit too, so the import must stop."""


@dataclass(frozen=True)
class Registered:
    grant_id: str
    created: bool


class Registrar(Protocol):
    async def existing_grant(self, registration: GrantRegistration) -> str | None:
        """Return the grant id when the user already holds a valid grant of this provider."""
        ...

    async def register(self, row: ValidRow) -> Registered:
        """Register the row. Raises `RowFailed` or `ImportStopped`."""
        ...


class InProcessRegistrar:
    """Registers through `GrantService` against the configured database, one session per row."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], nylas: NylasClient) -> None:
        self._sessionmaker = sessionmaker
        self._nylas = nylas

    async def existing_grant(self, registration: GrantRegistration) -> str | None:
        try:
            async with self._sessionmaker() as session:
                grant = await GrantRepository(session).get_by_user(registration.user_id)
        except SQLAlchemyError as exc:
            raise _database_failure(exc) from exc
        if grant is None or grant.provider != registration.provider:
            return None
        return grant.grant_id if grant.grant_status == GrantStatus.VALID else None

    async def register(self, row: ValidRow) -> Registered:
        try:
            async with self._sessionmaker() as session:
                service = GrantService(session, self._nylas, actor=IMPORT_ACTOR)
                outcome = await service.register(row.registration)
        except NylasApiKeyRejected as exc:
            raise ImportStopped(exc.detail or exc.title) from exc
        except ProblemError as exc:
            raise RowFailed(exc.problem_type, exc.detail or exc.title) from exc
        except SQLAlchemyError as exc:
            raise _database_failure(exc) from exc
        return Registered(outcome.grant.grant_id, outcome.created)


def _database_failure(exc: SQLAlchemyError) -> Exception:
    # The driver's message names the failure and, for a statement, its parameters: user ids,
    # grant ids and emails, never a credential, because no column stores one.
    original = getattr(exc, "orig", None)
    cause = original if isinstance(original, BaseException) else exc
    first_line = (str(cause).splitlines() or [""])[0]
    message = f"database error ({type(cause).__name__}): {first_line}"
    if isinstance(exc, OperationalError | InterfaceError):
        return ImportStopped(message[:_MAX_MESSAGE_LENGTH])
    return RowFailed("database-error", message)


class IdempotencyKeys:
    """`Idempotency-Key` values for the rows of one input file.

    A key is a SHA-256 over the file's name, size and modification time, the row number and
    the user id, never over a credential. The same file run again sends the same keys, so the
    broker replays its earlier responses instead of registering twice. An edited file gets
    new keys, so corrected credentials are sent rather than the stored answer replayed.
    """

    def __init__(self, path: Path) -> None:
        stat = path.stat()
        self._file = f"{path.name}\x00{stat.st_size}\x00{stat.st_mtime_ns}"

    def key(self, row: ValidRow) -> str:
        material = f"{self._file}\x00{row.number}\x00{row.user_id}"
        return "import-" + hashlib.sha256(material.encode()).hexdigest()


class HttpRegistrar:
    """Registers by posting each row to `POST /v1/grants` of a running broker."""

    def __init__(self, http: httpx.AsyncClient, keys: IdempotencyKeys) -> None:
        self._http = http
        self._keys = keys
        # Cleared when the caller may not read grants; rows are then registered without the
        # check, which is safe because a repeat re-authenticates the same grant.
        self._lookups_allowed = True

    async def existing_grant(self, registration: GrantRegistration) -> str | None:
        if not self._lookups_allowed:
            return None
        path = f"/v1/users/{quote(registration.user_id, safe='')}/grant"
        response = await self._send("GET", path)
        if response.status_code in (401, 403):
            self._lookups_allowed = False
            log.warning("import.lookup_not_permitted", status=response.status_code)
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        if body.get("provider") != registration.provider or body.get("grant_status") != "valid":
            return None
        return str(body["grant_id"])

    async def register(self, row: ValidRow) -> Registered:
        headers = {"Idempotency-Key": self._keys.key(row)}
        body = request_body(row.registration)
        response = await self._send("POST", "/v1/grants", json=body, headers=headers)
        if response.is_success:
            return Registered(str(response.json()["grant_id"]), response.status_code == 201)

        error_type, detail = _problem_of(response)
        if response.status_code in (401, 403) or error_type == "nylas-api-key-rejected":
            raise ImportStopped(f"the broker responded with {response.status_code}: {detail}")
        raise RowFailed(error_type, detail)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ImportStopped(f"cannot connect to the broker at {self._http.base_url}") from exc
        except httpx.TimeoutException as exc:
            raise RowFailed("broker-timed-out", "the request to the broker timed out") from exc
        except httpx.TransportError as exc:
            raise RowFailed("broker-unreachable", f"{type(exc).__name__}: {exc}") from exc


def request_body(registration: GrantRegistration) -> dict[str, Any]:
    """Return the JSON body of `POST /v1/grants` for the registration, credentials in clear."""
    settings = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in registration.settings
        if value is not None
    }
    body: dict[str, Any] = {
        "user_id": registration.user_id,
        "provider": registration.provider,
        "settings": settings,
    }
    if registration.scope is not None:
        body["scope"] = registration.scope
    if registration.state is not None:
        body["state"] = registration.state
    return body


def _problem_of(response: httpx.Response) -> tuple[str, str]:
    """Return the problem type's last path segment and the detail of an error response."""
    try:
        problem = response.json()
    except ValueError:
        return f"http-{response.status_code}", f"the broker responded with {response.status_code}"
    if not isinstance(problem, dict):
        return f"http-{response.status_code}", f"the broker responded with {response.status_code}"
    problem_type = str(problem.get("type") or "").rstrip("/").rsplit("/", 1)[-1]
    detail = problem.get("detail") or problem.get("title") or f"HTTP {response.status_code}"
    return problem_type or f"http-{response.status_code}", str(detail)
