"""Fake Nylas upstreams and a fake clock for the Nylas client tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from app.nylas import NylasClient, RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]
ClientFactory = Callable[..., NylasClient]

API_KEY = "nylas-api-key-test-0001"

# Attempts and waits used unless a test passes its own policy. With the jitter fixed at 0,
# the backoffs are 0.25 s, 0.5 s, 1 s and so on.
DEFAULT_POLICY = RetryPolicy(max_attempts=3, budget=20.0, backoff_initial=0.5, backoff_max=8.0)


class FakeClock:
    """Monotonic clock whose sleeps return at once and advance the time by the slept amount."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Reply:
    """A canned response. Each request gets a fresh `httpx.Response` built from it."""

    status: int
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def build(self) -> httpx.Response:
        return httpx.Response(self.status, content=self.content, headers=self.headers)


@dataclass
class ScriptedUpstream:
    """Fake Nylas that returns queued replies in order and records every request.

    A reply is a `Reply`, an exception to raise (transport failures), or a handler called
    with the request. The last reply repeats once the queue is down to one.
    """

    replies: list[Reply | Exception | Handler] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, Reply):
            return reply.build()
        return reply(request)


def respond(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Build a reply with a JSON `body`, or a raw `text` body, or no body at all."""
    all_headers = dict(headers or {})
    if text is not None:
        all_headers.setdefault("Content-Type", "text/html")
        return Reply(status, text.encode(), all_headers)
    if body is None:
        return Reply(status, b"", all_headers)
    all_headers.setdefault("Content-Type", "application/json")
    return Reply(status, json.dumps(body).encode(), all_headers)


def error_body(
    error_type: str,
    message: str,
    *,
    provider_error: dict[str, Any] | None = None,
    request_id: str = "req-error-1",
) -> dict[str, Any]:
    """Build the usual Nylas error envelope."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if provider_error is not None:
        error["provider_error"] = provider_error
    return {"request_id": request_id, "error": error}


def grant_json(grant_id: str = "grant-1", **fields: Any) -> dict[str, Any]:
    """Build a grant object as Nylas returns it."""
    grant: dict[str, Any] = {
        "id": grant_id,
        "provider": "google",
        "grant_status": "valid",
        "email": f"{grant_id}@example.com",
        "scope": ["openid"],
        "created_at": 1764806400,
        "updated_at": 1764806400,
    }
    grant.update(fields)
    return grant


def request_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


class RotatingApiKey:
    """API key provider that moves to the next key in `keys` on each refresh."""

    def __init__(self, *keys: str) -> None:
        self._keys = [SecretStr(key) for key in keys]
        self._index = 0
        self.rejected: list[str] = []

    def current(self) -> SecretStr:
        return self._keys[self._index]

    async def refresh_after_rejection(self, rejected: SecretStr) -> bool:
        self.rejected.append(rejected.get_secret_value())
        if self._index + 1 >= len(self._keys):
            return False
        self._index += 1
        return True


def accept_only(key: str, success: Reply) -> Handler:
    """Build a handler that returns `success` for bearer `key` and 401 for any other key."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == f"Bearer {key}":
            return success.build()
        return respond(401, error_body("unauthorized", "Unauthorized")).build()

    return handle
