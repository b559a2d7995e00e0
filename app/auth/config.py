"""Auth settings: the mode, and the map of callers to their permissions, checked at startup."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import structlog
from pydantic import SecretStr

from app.auth.errors import AuthConfigError
from app.auth.permissions import ALL_PERMISSIONS, Permission
from app.auth.principals import (
    ANONYMOUS,
    InvalidPrincipalError,
    check_token_principal,
    parse_spiffe_id,
)

log = structlog.get_logger(__name__)

MODE_SETTING = "GRANT_BROKER_AUTH_MODE"
CALLERS_SETTING = "GRANT_BROKER_CALLERS"
CALLERS_FILE_SETTING = "GRANT_BROKER_CALLERS_FILE"

CallerMap = Mapping[str, frozenset[Permission]]


class AuthMode(StrEnum):
    """The source of a caller's identity."""

    MESH = "mesh"  # Istio mutual TLS: the SPIFFE ID in X-Forwarded-Client-Cert
    TOKEN = "token"  # noqa: S105 (a mode name) Authorization: Bearer, one token per caller
    NONE = "none"  # development and tests only: every request is `anonymous`, allowed anything


class AuthSettings(Protocol):
    """The settings this package reads; `app.core.config.Settings` provides them."""

    @property
    def auth_mode(self) -> AuthMode: ...
    @property
    def callers(self) -> str | None: ...
    @property
    def callers_file(self) -> Path | None: ...
    @property
    def caller_tokens(self) -> SecretStr | None: ...
    @property
    def caller_tokens_secret(self) -> str | None: ...
    @property
    def caller_tokens_file(self) -> Path | None: ...
    @property
    def is_development(self) -> bool: ...
    @property
    def secret_refresh_interval(self) -> float: ...
    @property
    def secret_max_age(self) -> float: ...
    @property
    def secret_rejection_refetch_interval(self) -> float: ...


@dataclass(frozen=True)
class AuthConfig:
    """The validated mode and caller map."""

    mode: AuthMode
    callers: CallerMap


def load_auth_config(settings: AuthSettings) -> AuthConfig:
    """Validate the mode against the environment and read the caller map.

    Raises AuthConfigError naming the setting and entry to fix. With `none`, logs a warning and
    returns a map that allows `anonymous` everything.
    """
    mode = settings.auth_mode
    if mode is AuthMode.NONE:
        return _anonymous_config(development=settings.is_development)

    text, origin = _read_callers(settings)
    return AuthConfig(mode, parse_callers(text, mode=mode, origin=origin))


def _anonymous_config(*, development: bool) -> AuthConfig:
    if not development:
        raise AuthConfigError(
            f"{MODE_SETTING}=none turns caller authentication off and is allowed only with "
            f"GRANT_BROKER_ENV=development. Set {MODE_SETTING} to mesh or token."
        )
    log.warning(
        "auth.disabled",
        mode=AuthMode.NONE.value,
        detail="every request is allowed as the principal anonymous; development only",
    )
    return AuthConfig(AuthMode.NONE, {ANONYMOUS: ALL_PERMISSIONS})


def _read_callers(settings: AuthSettings) -> tuple[str, str]:
    """Return the caller map's JSON text and a description of where it came from."""
    text = settings.callers if settings.callers and settings.callers.strip() else None
    path = settings.callers_file
    if text is not None and path is not None:
        raise AuthConfigError(f"Set only one of {CALLERS_SETTING} and {CALLERS_FILE_SETTING}.")
    if text is not None:
        return text, CALLERS_SETTING
    if path is not None:
        return _read_file(path), f"{CALLERS_FILE_SETTING} ({path})"
    raise AuthConfigError(
        f"{CALLERS_SETTING} or {CALLERS_FILE_SETTING} is required with "
        f"{MODE_SETTING}={settings.auth_mode.value}: without callers every request is rejected. "
        'Set it to a JSON object such as {"spiffe://cluster.local/ns/billing/sa/billing-api": '
        '["grants:read"]}.'
    )


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise AuthConfigError(
            f"{CALLERS_FILE_SETTING} {path} could not be read: {reason}."
        ) from exc


def parse_callers(text: str, *, mode: AuthMode, origin: str) -> dict[str, frozenset[Permission]]:
    """Parse a JSON object of principal -> list of permission names.

    Mesh mode requires Istio SPIFFE IDs; token mode also accepts plain caller names. Raises
    AuthConfigError naming `origin` and the entry for malformed JSON, a duplicate or invalid
    principal, an unknown permission, or an empty map or permission list.
    """
    document = load_json_object(text, origin)
    if not document:
        raise AuthConfigError(f"{origin} lists no callers, so every request would be rejected.")
    callers: dict[str, frozenset[Permission]] = {}
    for principal, value in document.items():
        _check_principal(principal, mode, origin)
        callers[principal] = _permissions(principal, value, origin)
    return callers


def _check_principal(principal: str, mode: AuthMode, origin: str) -> None:
    try:
        if mode is AuthMode.MESH:
            parse_spiffe_id(principal)
        else:
            check_token_principal(principal)
    except InvalidPrincipalError as exc:
        raise AuthConfigError(f"{origin}: invalid principal {principal!r}: {exc}.") from None


def _permissions(principal: str, value: Any, origin: str) -> frozenset[Permission]:
    allowed = ", ".join(sorted(ALL_PERMISSIONS))
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise AuthConfigError(
            f"{origin}: the permissions of {principal} must be a list of names from: {allowed}."
        )
    unknown = sorted(set(value) - set(ALL_PERMISSIONS))
    if unknown:
        raise AuthConfigError(
            f"{origin}: {principal} has unknown permissions {', '.join(unknown)}; "
            f"use names from: {allowed}."
        )
    if not value:
        raise AuthConfigError(
            f"{origin}: {principal} has no permissions; list at least one or remove the entry."
        )
    return frozenset(Permission(name) for name in value)


def load_json_object(text: str, origin: str) -> dict[str, Any]:
    """Parse `text` as a JSON object whose keys occur once. Raises AuthConfigError.

    Messages give the line and column of a syntax error, never the text, because the tokens
    map is parsed here as well.
    """
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise AuthConfigError(
            f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except _DuplicateKeyError as exc:
        raise AuthConfigError(f"{origin} lists {exc.key!r} more than once.") from None
    if not isinstance(document, dict):
        raise AuthConfigError(f"{origin} must be a JSON object keyed by principal.")
    return document


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKeyError(key)
        document[key] = value
    return document
