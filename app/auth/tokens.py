"""Bearer tokens of the callers in token mode, kept current from a rotating secret.

The secret (GRANT_BROKER_CALLER_TOKENS_SECRET, _FILE or, in development, the plain value) contains
a JSON object of principal -> token. Only SHA-256 digests of the tokens are kept after parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from pydantic import SecretStr

from app.auth.config import AuthSettings, load_json_object
from app.auth.errors import AuthConfigError
from app.secrets import RotatingSecret, SecretManagerAccess, source_from_settings

log = structlog.get_logger(__name__)

CALLER_TOKENS_SETTING = "GRANT_BROKER_CALLER_TOKENS"
# 32 characters of base64url carry 192 bits, beyond any online guessing.
MIN_TOKEN_LENGTH = 32
# RFC 6750, section 2.1: the characters a Bearer token may contain.
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class TokenSecret(Protocol):
    """The part of `app.secrets.RotatingSecret` that `CallerTokens` uses."""

    @property
    def version(self) -> str: ...
    def current(self) -> SecretStr: ...
    async def load(self) -> None: ...
    async def run_refresh_loop(self) -> None: ...
    def status(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class _TokenTable:
    version: str
    # The secret value parsed into this table. Every successful fetch stores a new object, so
    # an identity check shows whether the secret changed since the table was built.
    source: SecretStr
    # (SHA-256 of the token, principal). Comparing digests of fixed length keeps
    # hmac.compare_digest from returning early on a length difference.
    digests: tuple[tuple[bytes, str], ...]


def caller_tokens_secret(
    settings: AuthSettings, secret_manager: SecretManagerAccess | None
) -> RotatingSecret:
    """Build the rotating secret that contains the tokens, from the three GRANT_BROKER_CALLER_TOKENS
    settings. Raises `app.secrets.SecretLoadError` unless exactly one of them is set.
    """
    source = source_from_settings(
        setting=CALLER_TOKENS_SETTING,
        value=settings.caller_tokens,
        secret_name=settings.caller_tokens_secret,
        file_path=settings.caller_tokens_file,
        development=settings.is_development,
        secret_manager=secret_manager,
    )
    return RotatingSecret(
        CALLER_TOKENS_SETTING,
        source,
        refresh_interval=settings.secret_refresh_interval,
        max_age=settings.secret_max_age,
        rejection_min_interval=settings.secret_rejection_refetch_interval,
    )


class CallerTokens:
    """Finds the caller a bearer token belongs to.

    A new secret version takes effect on the first lookup after the secret's refresh fetched
    it. A version that fails validation is logged and ignored, and the last valid tokens stay
    in use, so a bad edit of the secret cannot lock every caller out. A new token therefore
    works within GRANT_BROKER_SECRET_REFRESH_INTERVAL seconds of being added.
    """

    def __init__(self, secret: TokenSecret, callers: Collection[str]) -> None:
        self._secret = secret
        self._callers = frozenset(callers)
        self._table: _TokenTable | None = None
        self._ignored: SecretStr | None = None

    async def load(self) -> None:
        """Load and validate the tokens. Raises SecretLoadError or AuthConfigError."""
        await self._secret.load()
        table = self._parse_current()

        self._table = table
        self._warn_callers_without_token(table)

    async def run_refresh_loop(self) -> None:
        await self._secret.run_refresh_loop()

    def status(self) -> dict[str, object]:
        """The secret's version and age, never a token."""
        return self._secret.status()

    def principal_for(self, token: str) -> str | None:
        """Return the principal whose token this is, or None.

        The comparisons take the same time whichever token matches, or none.
        """
        presented = hashlib.sha256(token.encode()).digest()
        principal = None
        # Every configured token is compared, without stopping at a match, so the time taken
        # does not depend on which caller's token matched.
        for expected, owner in self._table_in_use().digests:
            if hmac.compare_digest(presented, expected):
                principal = owner
        return principal

    def _table_in_use(self) -> _TokenTable:
        table = self._table
        if table is None:
            raise RuntimeError("caller tokens are not loaded yet: call load() first")
        value = self._secret.current()
        if value is table.source or value is self._ignored:
            return table

        try:
            self._table = self._parse_current()
        except AuthConfigError as exc:
            # Logged once per fetched value, and the secret is fetched once per refresh interval.
            self._ignored = value
            log.error(
                "auth.caller_tokens_invalid",
                version=self._secret.version,
                version_in_use=table.version,
                error=str(exc),
            )
            return table
        if self._table.version != table.version:
            log.info("auth.caller_tokens_switched", version=self._table.version)
        return self._table

    def _parse_current(self) -> _TokenTable:
        value = self._secret.current()
        digests = parse_tokens(value, self._callers)
        return _TokenTable(self._secret.version, value, tuple(digests.items()))

    def _warn_callers_without_token(self, table: _TokenTable) -> None:
        with_token = {principal for _, principal in table.digests}
        for principal in sorted(self._callers - with_token):
            log.warning("auth.caller_without_token", principal=principal)


def parse_tokens(value: SecretStr, callers: Collection[str]) -> dict[bytes, str]:
    """Parse the JSON object principal -> token into token digest -> principal.

    Raises AuthConfigError for malformed JSON, a principal not in `callers`, a token that is
    not an RFC 6750 token of at least MIN_TOKEN_LENGTH characters, or two callers sharing a
    token. Messages name principals, never tokens.
    """
    document = load_json_object(value.get_secret_value(), CALLER_TOKENS_SETTING)
    if not document:
        raise AuthConfigError(f"{CALLER_TOKENS_SETTING} contains no tokens.")

    digests: dict[bytes, str] = {}
    for principal, token in document.items():
        _check_token(principal, token, callers)
        digest = hashlib.sha256(token.encode()).digest()
        if digest in digests:
            raise AuthConfigError(
                f"{CALLER_TOKENS_SETTING}: {digests[digest]} and {principal} have the same "
                "token; give each caller its own."
            )
        digests[digest] = principal
    return digests


def _check_token(principal: str, token: Any, callers: Collection[str]) -> None:
    if principal not in callers:
        raise AuthConfigError(
            f"{CALLER_TOKENS_SETTING} has a token for {principal!r}, which GRANT_BROKER_CALLERS "
            "does not list. Add the caller there or remove its token."
        )
    if not isinstance(token, str) or BEARER_TOKEN.fullmatch(token) is None:
        raise AuthConfigError(
            f"{CALLER_TOKENS_SETTING}: the token of {principal} must be a string of letters, "
            "digits and -._~+/ (RFC 6750)."
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise AuthConfigError(
            f"{CALLER_TOKENS_SETTING}: the token of {principal} is shorter than "
            f"{MIN_TOKEN_LENGTH} characters. Generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
