"""Translation of Nylas HTTP responses into models and typed errors.

Error bodies are parsed defensively. Gateways return HTML or plain text, and Nylas
itself has sent `"error"` as a string, no `error` key at all, and bodies that are not objects.
The HTTP status decides the error class and the body only adds detail.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from app.nylas.errors import NylasError, NylasInvalidResponse, error_class_for_status
from app.nylas.redaction import Redactor, excerpt
from app.nylas.retry import parse_http_date, parse_retry_after

ModelT = TypeVar("ModelT", bound=BaseModel)

_REQUEST_ID_MAX_CHARS = 128
_PROVIDER_ERROR_MAX_ITEMS = 10
_PROVIDER_ERROR_KEY_MAX_CHARS = 64


class _NotJson:
    """Marker for a body that is empty or not valid JSON."""


NOT_JSON = _NotJson()


def decode_json(response: httpx.Response) -> Any:
    """Return the decoded JSON body, or `NOT_JSON` when it is empty or not JSON."""
    if not response.content:
        return NOT_JSON
    try:
        return json.loads(response.content)
    except ValueError:
        return NOT_JSON


def request_id_of(response: httpx.Response, body: Any) -> str | None:
    """Return the Nylas request id from the body, else from the `X-Request-Id` header."""
    value = body.get("request_id") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        value = response.headers.get("x-request-id")
    return value[:_REQUEST_ID_MAX_CHARS] if value else None


def error_from_response(operation: str, response: httpx.Response, redactor: Redactor) -> NylasError:
    """Build the typed error for a non-2xx response, whatever its body looks like."""
    body = decode_json(response)
    envelope = body.get("error") if isinstance(body, dict) else None
    error_class = error_class_for_status(response.status_code)

    return error_class(
        operation=operation,
        status=response.status_code,
        request_id=_redacted_or_none(request_id_of(response, body), redactor),
        error_type=_error_type(envelope, redactor),
        detail=_error_detail(response, envelope, redactor),
        provider_error=_provider_error(envelope, redactor),
        retry_after=parse_retry_after(
            response.headers.get("retry-after"), now=_server_time(response)
        ),
    )


def parse_model(
    model: type[ModelT],
    data: Any,
    *,
    location: str,
    operation: str,
    response: httpx.Response,
    redactor: Redactor,
) -> ModelT:
    """Validate `data` as `model`, raising `NylasInvalidResponse` when it does not fit.

    `location` is where `data` sits in the body (such as `data`), used to name bad fields.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reason = _summarize(exc, location)
        raise invalid_response(operation, response, reason, redactor) from None


def json_object(operation: str, response: httpx.Response, redactor: Redactor) -> dict[str, Any]:
    """Return the body of a 2xx response as a JSON object, or raise `NylasInvalidResponse`."""
    body = decode_json(response)
    if not isinstance(body, dict):
        raise invalid_response(operation, response, "response body is not a JSON object", redactor)
    return body


def invalid_response(
    operation: str, response: httpx.Response, reason: str, redactor: Redactor
) -> NylasInvalidResponse:
    return NylasInvalidResponse(
        operation=operation,
        status=response.status_code,
        request_id=_redacted_or_none(request_id_of(response, decode_json(response)), redactor),
        detail=excerpt(reason, redactor),
    )


def _error_type(envelope: Any, redactor: Redactor) -> str | None:
    value = envelope.get("type") if isinstance(envelope, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return excerpt(value, redactor, max_chars=64) if isinstance(value, str) else None


def _error_detail(response: httpx.Response, envelope: Any, redactor: Redactor) -> str:
    if isinstance(envelope, str):
        return excerpt(envelope, redactor)
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if isinstance(message, str):
        return excerpt(message, redactor)
    # No usable message: the raw body (HTML page, plain text, odd JSON) is the best clue.
    return excerpt(response.text, redactor, strip_html=True)


def _provider_error(envelope: Any, redactor: Redactor) -> dict[str, str] | None:
    value = envelope.get("provider_error") if isinstance(envelope, dict) else None
    if isinstance(value, str):
        value = {"message": value}
    if not isinstance(value, dict):
        return None

    kept: dict[str, str] = {}
    for key, item in list(value.items())[:_PROVIDER_ERROR_MAX_ITEMS]:
        if isinstance(item, bool | int | float):
            item = json.dumps(item)
        if isinstance(item, str):
            name = excerpt(str(key), redactor, max_chars=_PROVIDER_ERROR_KEY_MAX_CHARS)
            kept[name] = excerpt(item, redactor)
    return kept


def _redacted_or_none(value: str | None, redactor: Redactor) -> str | None:
    return redactor.redact(value) if value else None


def _server_time(response: httpx.Response) -> float:
    """Return the response's `Date` in Unix seconds, else the local clock.

    An HTTP-date `Retry-After` is relative to the server's clock, so the server's own `Date`
    avoids counting clock skew as waiting time.
    """
    server_time = parse_http_date(response.headers.get("date"))
    return time.time() if server_time is None else server_time


def _summarize(exc: ValidationError, location: str) -> str:
    # Without input values, because a response can echo settings that contain credentials.
    problems = [
        f"{'.'.join([location, *map(str, error['loc'])]).strip('.') or 'body'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return "unexpected response shape: " + "; ".join(problems[:3])
