"""Parser and renderer for Envoy's `X-Forwarded-Client-Cert` (XFCC) header.

The header is a comma-separated list of elements, one per proxy that terminated mutual TLS.
Each element is a semicolon-separated list of `key=value` pairs (`By`, `Hash`, `Cert`, `Chain`,
`Subject`, `URI`, `DNS`), and keys are case-insensitive. A value containing `,` `;` or `=` is
double-quoted, with `\\"` standing for a quote inside it. The parser reads quotes wherever they
are, so a quoted `,` or `;` never splits an element or a pair.

Envoy's own rendering (1.2x, `conn_manager_utility.cc`) emits `URI=` with an empty value when
the peer certificate has no URI SAN, one `URI` or `DNS` pair per SAN, and `Subject` always
quoted.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "X-Forwarded-Client-Cert"

# Optional whitespace around separators (RFC 9110, section 5.6.3).
_OWS = " \t"
# Keys are RFC 9110 tokens, so ASCII case folding is exact and a key never needs quoting.
_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_UNQUOTED_VALUE_END = frozenset(',;"')
_CHARS_NEEDING_QUOTES = frozenset(',;="\\')


class XfccSyntaxError(ValueError):
    """The header is not a well-formed XFCC value.

    The message gives the character offset and what was expected there, never the header
    text: a forged header is attacker-controlled and could be large.
    """

    def __init__(self, reason: str, position: int) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"invalid {HEADER} header at character {position}: {reason}")


@dataclass(frozen=True)
class XfccElement:
    """The `key=value` pairs one proxy added, in header order, keys as spelled in the header."""

    pairs: tuple[tuple[str, str], ...]

    def values(self, key: str) -> tuple[str, ...]:
        """Return every value of `key`, compared case-insensitively, in header order."""
        expected = key.lower()
        return tuple(value for name, value in self.pairs if name.lower() == expected)


def parse_xfcc(header: str) -> tuple[XfccElement, ...]:
    """Parse a whole header value into its elements, first to last.

    Raises `XfccSyntaxError` for an empty header, an empty element or pair, a key that is not
    a token, a missing `=`, an unterminated quoted value, or text after a closing quote.
    """
    reader = _Reader(header)
    elements = [_read_element(reader)]
    while reader.peek() == ",":
        reader.advance()
        elements.append(_read_element(reader))
    return tuple(elements)


def render_xfcc(elements: Iterable[XfccElement]) -> str:
    """Render elements as a header value that `parse_xfcc` reads back unchanged.

    Raises ValueError for a key that is not an RFC 9110 token, or for no elements or pairs.
    """
    rendered = [_render_element(element) for element in elements]
    if not rendered:
        raise ValueError(f"an {HEADER} header needs at least one element")
    return ",".join(rendered)


class _Reader:
    """A cursor over the header text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def peek(self) -> str:
        """Return the current character, or "" at the end."""
        return self.text[self.position : self.position + 1]

    def advance(self) -> None:
        self.position += 1

    def skip_whitespace(self) -> None:
        while self.peek() and self.peek() in _OWS:
            self.advance()

    def take_while(self, allowed: frozenset[str]) -> str:
        start = self.position
        while self.peek() and self.peek() in allowed:
            self.advance()
        return self.text[start : self.position]

    def take_until(self, stop: frozenset[str]) -> str:
        start = self.position
        while self.peek() and self.peek() not in stop:
            self.advance()
        return self.text[start : self.position]

    def error(self, reason: str) -> XfccSyntaxError:
        return XfccSyntaxError(reason, self.position)


def _read_element(reader: _Reader) -> XfccElement:
    pairs = [_read_pair(reader)]
    while reader.peek() == ";":
        reader.advance()
        pairs.append(_read_pair(reader))
    return XfccElement(tuple(pairs))


def _read_pair(reader: _Reader) -> tuple[str, str]:
    reader.skip_whitespace()
    key = reader.take_while(_TOKEN_CHARS)
    if not key:
        raise reader.error("expected a key")

    reader.skip_whitespace()
    if reader.peek() != "=":
        raise reader.error("expected '=' after the key")
    reader.advance()
    reader.skip_whitespace()

    value = _read_quoted(reader) if reader.peek() == '"' else _read_unquoted(reader)
    reader.skip_whitespace()
    if reader.peek() not in ("", ",", ";"):
        raise reader.error("expected ';' or ',' after the value")
    return key, value


def _read_unquoted(reader: _Reader) -> str:
    # `=` may appear unquoted: Envoy writes URI values as they are, and the key already ended
    # at the first `=`.
    return reader.take_until(_UNQUOTED_VALUE_END).rstrip(_OWS)


def _read_quoted(reader: _Reader) -> str:
    reader.advance()
    chars: list[str] = []
    while True:
        char = reader.peek()
        if not char:
            raise reader.error("unterminated quoted value")
        reader.advance()
        if char == '"':
            return "".join(chars)
        chars.append(_read_escape(reader) if char == "\\" else char)


def _read_escape(reader: _Reader) -> str:
    """Read what follows a backslash inside quotes.

    `\\"` and `\\\\` are `"` and `\\`. Any other backslash is kept as it is, because
    Envoy copies the certificate subject unescaped and RFC 4514 subjects contain escapes such
    as `CN=Smith\\, John`.
    """
    char = reader.peek()
    if char in ('"', "\\"):
        reader.advance()
        return char
    return "\\"


def _render_element(element: XfccElement) -> str:
    if not element.pairs:
        raise ValueError(f"an {HEADER} element needs at least one key=value pair")
    return ";".join(_render_pair(key, value) for key, value in element.pairs)


def _render_pair(key: str, value: str) -> str:
    if not key or not set(key) <= _TOKEN_CHARS:
        raise ValueError(f"{HEADER} key {key!r} is not an RFC 9110 token")
    return f"{key}={_render_value(value)}"


def _render_value(value: str) -> str:
    # Leading and trailing whitespace would be skipped as optional whitespace when unquoted.
    needs_quotes = not _CHARS_NEEDING_QUOTES.isdisjoint(value) or value != value.strip(_OWS)
    if not needs_quotes:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
