"""Removal of the secrets sent in a request from text that the client keeps or logs."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"

DETAIL_MAX_CHARS = 200

_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")


class Redactor:
    """Replaces every known secret in a text with `[redacted]`.

    A server can echo a secret as sent, JSON-escaped (once or twice), HTML-escaped or
    URL-encoded, so each of those spellings is replaced. Longer spellings go first so that a
    secret that contains another one is removed whole.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(secret for secret in secrets if secret)
        spellings = {spelling for secret in self._secrets for spelling in _spellings(secret)}
        self._spellings = sorted(spellings, key=len, reverse=True)

    def with_secret(self, secret: str) -> Redactor:
        """Return a redactor that also removes `secret`."""
        return Redactor([*self._secrets, secret])

    def redact(self, text: str) -> str:
        for spelling in self._spellings:
            text = text.replace(spelling, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def excerpt(
    text: str, redactor: Redactor, *, max_chars: int = DETAIL_MAX_CHARS, strip_html: bool = False
) -> str:
    """Redact `text`, collapse whitespace and truncate to `max_chars`.

    Redaction runs on the whole text before truncation, so a cut can never leave part of a
    secret behind. With `strip_html`, HTML tags are dropped first, which keeps a gateway's
    error page readable.
    """
    cleaned = redactor.redact(text)
    if strip_html:
        cleaned = _TAG.sub(" ", cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if len(cleaned) <= max_chars:
        return cleaned
    return cleaned[: max_chars - 3].rstrip() + "..."


def _spellings(secret: str) -> set[str]:
    json_escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    # A JSON request body echoed inside a JSON string is escaped twice.
    twice_escaped = {json.dumps(spelling)[1:-1] for spelling in json_escaped}
    return {
        secret,
        *json_escaped,
        *twice_escaped,
        html.escape(secret),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
