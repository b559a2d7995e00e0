"""RFC 9457 problem details: the one error shape every endpoint returns.

    ProblemError                  base: status, title, detail, headers, extension members
    ├── NotFoundError             404
    ├── ConflictError             409
    ├── UnprocessableError        422 (request valid in form, rejected in meaning)
    └── UpstreamError             502 / 503 / 504, raised for Nylas failures

Validation errors from FastAPI are rendered here too, with the field locations and messages but
never the submitted values, because a request body can carry refresh tokens and passwords.
"""

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://grant-broker.internal/problems/"

log = structlog.get_logger(__name__)


class InvalidParam(BaseModel):
    """One invalid request field: where it is and what is wrong with it."""

    name: str = Field(examples=["body.settings.refresh_token"])
    reason: str = Field(examples=["Field required"])


class Problem(BaseModel):
    """Problem details (RFC 9457) as this service returns them."""

    type: str = Field(examples=[PROBLEM_TYPE_BASE + "validation-failed"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    invalid_params: list[InvalidParam] | None = None
    nylas_status: int | None = None
    nylas_request_id: str | None = None
    request_id: str | None = None

    model_config = {"extra": "allow"}


class ProblemError(Exception):
    """An error that renders as problem details with its status and headers."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    problem_type: str = "about:blank"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = {key: value for key, value in extensions.items() if value is not None}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": _type_uri(self.problem_type),
            "title": self.title,
            "status": int(self.status),
        }
        if self.detail:
            problem["detail"] = self.detail
        if instance:
            problem["instance"] = instance
        problem.update(self.extensions)
        return problem


class NotFoundError(ProblemError):
    status = HTTPStatus.NOT_FOUND
    problem_type = "not-found"
    title = "Not found"


class ConflictError(ProblemError):
    status = HTTPStatus.CONFLICT
    problem_type = "conflict"
    title = "Conflict"


class UnprocessableError(ProblemError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    problem_type = "unprocessable"
    title = "Request cannot be processed"


class UpstreamError(ProblemError):
    status = HTTPStatus.BAD_GATEWAY
    problem_type = "nylas-failed"
    title = "Nylas request failed"


def _type_uri(problem_type: str) -> str:
    if problem_type == "about:blank" or problem_type.startswith("http"):
        return problem_type
    return PROBLEM_TYPE_BASE + problem_type


def problem_response(
    problem: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(problem),
        status_code=int(problem["status"]),
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def current_request_id() -> str | None:
    """Return the id RequestContextMiddleware bound to the request being handled."""
    request_id: str | None = structlog.contextvars.get_contextvars().get("request_id")
    return request_id


def secret_length_reason(error: Mapping[str, Any]) -> str | None:
    """Return the reason for a secret over its length limit, or None for any other error.

    Pydantic words a `SecretStr` length limit as a count of items; this says characters.
    """
    context = error.get("ctx") or {}
    if error.get("type") == "too_long" and context.get("field_type") == "Value":
        return f"must be at most {context.get('max_length')} characters"
    return None


def _field_name(location: Sequence[Any], body: Any) -> str:
    """Join a pydantic error location into a dotted field name.

    Pydantic puts a discriminated union's tag into the location (`body.google.settings`). A
    part that is not a key of the object at that level but equals one of its values is such a
    tag, and is left out so the name matches the JSON the caller sent (`body.settings`).
    """
    parts: list[str] = []
    node: Any = {"body": body}
    for part in location:
        if isinstance(node, dict) and part not in node and part in node.values():
            continue
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


def _invalid_param(error: Mapping[str, Any], body: Any) -> dict[str, str]:
    location = tuple(error.get("loc", ()))
    reason = str(error.get("msg", "invalid"))
    context = error.get("ctx", {})
    error_type = error.get("type")
    if error_type == "union_tag_invalid":
        location = (*location, str(context.get("discriminator", "")).strip("'"))
        expected = str(context.get("expected_tags", "")).replace("'", "")
        reason = f"must be one of: {expected}"
    elif error_type == "union_tag_not_found":
        location = (*location, str(context.get("discriminator", "")).strip("'"))
        reason = "Field required"
    elif error_type == "json_invalid":
        # The location's second part is a character offset, not a field.
        location = ("body",)
        reason = f"invalid JSON: {context.get('error', 'cannot be parsed')}; send a JSON object"
    elif error_type in {"string_too_short", "too_short"} and context.get("min_length") == 1:
        reason = "must not be empty"
    elif (secret_reason := secret_length_reason(error)) is not None:
        reason = secret_reason
    elif error_type == "model_attributes_type" or (
        error_type == "dict_type" and location == ("body",)
    ):
        reason = "must be a JSON object; send it with Content-Type: application/json"
    return {"name": _field_name(location, body), "reason": reason}


def _invalid_params(exc: RequestValidationError) -> list[dict[str, str]]:
    # Only the location and the message: pydantic's "input" and most of "ctx" can hold the
    # submitted value, which may be a refresh token or a password.
    return [_invalid_param(error, exc.body) for error in exc.errors()]


async def _handle_problem_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ProblemError):  # registered for this type only
        raise exc
    problem = exc.to_problem(instance=request.url.path)
    problem.setdefault("request_id", current_request_id())
    if exc.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        log.warning("http.upstream_problem", problem_type=problem["type"], status=exc.status)
    return problem_response(problem, headers=exc.headers)


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for this type only
        raise exc
    invalid_params = _invalid_params(exc)
    names = ", ".join(param["name"] for param in invalid_params)
    problem = {
        "type": _type_uri("validation-failed"),
        "title": "Request validation failed",
        "status": HTTPStatus.UNPROCESSABLE_ENTITY,
        "detail": f"Invalid or missing fields: {names}. Fix them and send the request again.",
        "instance": request.url.path,
        "invalid_params": invalid_params,
        "request_id": current_request_id(),
    }
    log.info("http.validation_failed", fields=[param["name"] for param in invalid_params])
    return problem_response(problem)


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # registered for this type only
        raise exc
    # FastAPI turns any failure to read or decode the body into a bare 400 and chains the cause.
    if isinstance(exc.__cause__, BodyTooLarge):
        return problem_response(too_large_problem(request.url.path, exc.__cause__.limit))
    if exc.status_code == HTTPStatus.BAD_REQUEST and exc.__cause__ is not None:
        return await _handle_validation_error(request, _unreadable_body(exc.__cause__))
    status = HTTPStatus(exc.status_code)
    problem = {
        "type": "about:blank",
        "title": status.phrase,
        "status": status.value,
        "detail": str(exc.detail) if exc.detail != status.phrase else None,
        "instance": request.url.path,
        "request_id": current_request_id(),
    }
    problem = {key: value for key, value in problem.items() if value is not None}
    return problem_response(problem, headers=exc.headers)


class BodyTooLarge(Exception):
    """The error raised while a request body is read, once it exceeds `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def too_large_problem(path: str, limit: int) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": "Content Too Large",
        "status": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        "detail": f"The request body exceeds {limit} bytes. Send a smaller body.",
        "instance": path,
        "request_id": current_request_id(),
    }


def _unreadable_body(cause: BaseException) -> RequestValidationError:
    """Describe why a body could not be decoded, without quoting any of it."""
    if isinstance(cause, RecursionError):
        reason = "nested too deeply"
    elif isinstance(cause, UnicodeDecodeError):
        reason = "not UTF-8 text, or compressed (no Content-Encoding such as gzip is accepted)"
    else:
        reason = "cannot be read"
    error = {"type": "json_invalid", "loc": ("body",), "msg": reason, "ctx": {"error": reason}}
    return RequestValidationError([error])


def internal_error_problem(path: str, request_id: str | None) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": "Internal server error",
        "status": HTTPStatus.INTERNAL_SERVER_ERROR,
        "detail": "The service failed to handle the request. Quote the request_id when reporting.",
        "instance": path,
        "request_id": request_id,
    }


# Failures to reach or keep a database connection: worth a retry, unlike a bug.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    # No pooled connection came free in time: the database is overloaded or stalled.
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
)


async def _handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Only the type: a driver's message can quote connection parameters.
    log.error("database.unavailable", error_type=type(exc).__name__, path=request.url.path)
    problem = {
        "type": _type_uri("database-unavailable"),
        "title": "Database unavailable",
        "status": HTTPStatus.SERVICE_UNAVAILABLE,
        "detail": "The service cannot reach its database right now; retry later.",
        "instance": request.url.path,
        "request_id": current_request_id(),
    }
    return problem_response(problem, headers={"Retry-After": "2"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    for error_class in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error_class, _handle_database_unavailable)
    # Unexpected exceptions are caught by RequestContextMiddleware instead of a handler here:
    # Starlette re-raises after calling an `Exception` handler, and the server would then log the
    # exception text, which could quote a value from the request.
