"""A fake of Secret Manager's `AccessSecretVersion` REST method on 127.0.0.1, for the real client.

It serves `GET /v1/projects/{p}/secrets/{s}/versions/{v}:access` as Secret Manager does:
`latest` is the most recently created version whatever its state, a disabled or destroyed
version gets 400 FAILED_PRECONDITION, an unknown secret or version 404, and the payload carries
its CRC32C as a decimal string. Tests can also deny access (403), inject failures and delays.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.secrets.checksum import crc32c

_ACCESS_PATH = re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+)/versions/([^/:?]+):access")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class _Version:
    data: bytes
    state: str = "ENABLED"


@dataclass
class _Failure:
    status: int
    # None: every request until cleared.
    remaining: int | None


@dataclass
class FakeSecretManager:
    """Secrets by name (`projects/p/secrets/s`), each a list of versions numbered from 1."""

    secrets: dict[str, list[_Version]] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    failure: _Failure | None = None
    delay_seconds: float = 0.0
    wrong_checksum: bool = False
    # Version names requested, in order, for counting fetches.
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() fast, because serve_forever checks for shutdown
        # only that often.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add_version(self, secret: str, value: str | bytes) -> str:
        """Add a version to `secret` (created on first use) and return the version name."""
        data = value.encode() if isinstance(value, str) else value
        with self.lock:
            versions = self.secrets.setdefault(secret, [])
            versions.append(_Version(data))
            return f"{secret}/versions/{len(versions)}"

    def set_state(self, version_name: str, state: str) -> None:
        """Set a version to ENABLED, DISABLED or DESTROYED. Destroying also drops the data."""
        secret, number = version_name.rsplit("/versions/", 1)
        with self.lock:
            version = self.secrets[secret][int(number) - 1]
            version.state = state
            if state == "DESTROYED":
                version.data = b""

    def fail(self, status: int, *, times: int | None = None) -> None:
        """Fail the next `times` requests (all, when None) with the HTTP error `status`."""
        with self.lock:
            self.failure = _Failure(status, times)

    def clear_failure(self) -> None:
        with self.lock:
            self.failure = None

    def access_count(self, version_name: str | None = None) -> int:
        with self.lock:
            return sum(1 for name in self.requests if version_name in (None, name))

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        """Return the status and JSON body for a request path."""
        match = _ACCESS_PATH.fullmatch(path.split("?", 1)[0])
        if match is None:
            return _error(404, f"Unknown path {path}.")
        secret, version_id = match.groups()
        with self.lock:
            self.requests.append(f"{secret}/versions/{version_id}")
            injected = self._injected_failure()
            if injected is not None:
                return _error(injected, "Injected failure.")
            if secret in self.denied:
                return _error(
                    403,
                    f"Permission 'secretmanager.versions.access' denied for resource "
                    f"'{secret}/versions/{version_id}' (or it may not exist).",
                )
            return self._access(secret, version_id)

    def _injected_failure(self) -> int | None:
        failure = self.failure
        if failure is None:
            return None
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                self.failure = None
        return failure.status

    def _access(self, secret: str, version_id: str) -> tuple[int, dict[str, Any]]:
        versions = self.secrets.get(secret)
        if not versions:
            return _error(404, f"Secret [{secret}] not found or has no versions.")
        number = len(versions) if version_id == "latest" else _version_number(version_id)
        if number is None or not 1 <= number <= len(versions):
            return _error(404, f"Secret Version [{secret}/versions/{version_id}] not found.")

        version = versions[number - 1]
        name = f"{secret}/versions/{number}"
        if version.state != "ENABLED":
            return _error(
                400, f"Secret Version [{name}] is in {version.state} state.", "FAILED_PRECONDITION"
            )
        checksum = crc32c(version.data) ^ (1 if self.wrong_checksum else 0)
        payload = {"data": base64.b64encode(version.data).decode(), "dataCrc32c": str(checksum)}
        return 200, {"name": name, "payload": payload}


def _version_number(version_id: str) -> int | None:
    return int(version_id) if version_id.isdigit() else None


def _error(code: int, message: str, status: str | None = None) -> tuple[int, dict[str, Any]]:
    status = status or _STATUS_NAMES.get(code, "UNKNOWN")
    return code, {"error": {"code": code, "message": message, "status": status}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSecretManager

    def do_GET(self) -> None:
        delay = self.fake.delay_seconds
        if delay:
            time.sleep(delay)
        status, body = self.fake.answer(self.path)
        content = json.dumps(body).encode()
        try:
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up after its timeout, so nothing is waiting for this response.
            return

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; tests read `requests` instead."""
