"""Structured logging (structlog) and the per-request context: request id and access log line."""

import logging
import sys
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import internal_error_problem, problem_response

REQUEST_ID_HEADER = "x-request-id"
# Inbound request ids are echoed back and logged, so keep them short and printable.
_MAX_REQUEST_ID_LENGTH = 128

log = structlog.get_logger(__name__)


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _ServiceLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs, so a second call replaces only its own."""


def log_formatter(*, json: bool) -> logging.Formatter:
    """Return the formatter that renders structlog and standard library records alike."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(*, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library's logging through one renderer on stdout."""
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = _ServiceLogHandler(sys.stdout)
    handler.setFormatter(log_formatter(json=json))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ServiceLogHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The access log line comes from RequestContextMiddleware, with the request id and route.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _inbound_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text: str = value.decode("latin-1")
            if 0 < len(text) <= _MAX_REQUEST_ID_LENGTH and text.isprintable():
                return text
    return None


def _client_ip(scope: Scope) -> str | None:
    # Behind a trusted proxy, uvicorn has already replaced this with X-Forwarded-For's client.
    client = scope.get("client")
    return client[0] if client else None


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    return getattr(route, "path", None)


class RequestContextMiddleware:
    """Bind a request id to every log line, echo it back, log one line per request.

    Also turns an unexpected exception into a problem+json 500 and logs only its type: the
    exception text could quote a value from the request, such as a refresh token.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _inbound_request_id(scope) or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            log.error("http.unhandled_error", error_type=type(exc).__name__)
            if response_started:
                raise
            response = problem_response(internal_error_problem(scope["path"], request_id))
            await response(scope, receive, send_with_request_id)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=scope["path"],
                route=_route_template(scope),
                status=status,
                client_ip=_client_ip(scope),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()
