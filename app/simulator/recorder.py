"""Counts of the calls each Nylas operation received, and a redacted record of each request.

The record keeps the shape of every request so that contract tests can validate it, but no
secret: each `settings` value other than hosts, ports and `credential_id` is replaced by a
placeholder of the same JSON type (a string stays a string, an integer an integer).
"""

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from app.simulator.providers import PUBLIC_SETTING_NAMES

REDACTED = "[redacted]"

# The record keeps the most recent requests only, so a long-running dev server stays bounded.
MAX_RECORDED_REQUESTS = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request a Nylas route received, with its secrets replaced by placeholders."""

    operation: str
    method: str
    path: str
    query: dict[str, str]
    # The parsed JSON body, or None when the request had no body or an unparseable one.
    body: object
    request_id: str

    def to_json(self) -> dict[str, object]:
        return {
            "operation": self.operation,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "body": self.body,
            "request_id": self.request_id,
        }


def redact_body(body: object) -> object:
    """Return a copy of a request body whose secret `settings` values are placeholders.

    A body that is not a JSON object is reduced to a placeholder, because it has no field
    names that could tell a secret from a plain value.
    """
    if not isinstance(body, dict):
        return placeholder(body)

    redacted = dict(body)
    settings = body.get("settings")
    if isinstance(settings, dict):
        redacted["settings"] = {
            name: _redact_setting(name, value) for name, value in settings.items()
        }
    return redacted


def _redact_setting(name: str, value: object) -> object:
    if name in PUBLIC_SETTING_NAMES:
        return value
    return placeholder(value)


def placeholder(value: object) -> object:
    """Return a value of the same JSON type as `value` that carries none of its content."""
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


class CallRecorder:
    """Per-operation call counts and the redacted record of the latest requests."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)

    def record(
        self,
        operation: str,
        *,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: object,
        request_id: str,
    ) -> None:
        self._counts[operation] += 1
        request = RecordedRequest(
            operation, method, path, dict(query), redact_body(body), request_id
        )
        self._requests.append(request)

    def count(self, operation: str) -> int:
        return self._counts[operation]

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def requests(self, operation: str | None = None) -> list[RecordedRequest]:
        return [request for request in self._requests if operation in (None, request.operation)]

    def clear(self) -> None:
        self._counts.clear()
        self._requests.clear()
