"""Mapping of submitted credentials to mailboxes, and the credentials tests bind or revoke.

The registry keeps no secret: bound and revoked credentials are stored as SHA-256 digests.
The mapping rules are listed in the `app.simulator` package docstring.
"""

import hashlib
import hmac
from dataclasses import dataclass, field

from app.simulator.errors import NylasApiError, invalid_grant, invalid_request
from app.simulator.providers import (
    EXAMPLE_DOMAINS,
    IDENTITY_FIELDS,
    OAUTH_PROVIDERS,
    PASSWORD_FIELDS,
    PROVIDERS,
)
from app.simulator.validation import ConnectRequest, ParsedSettings

DEMO_TOKEN_PREFIX = "sim:"  # noqa: S105 - a prefix that marks demo tokens, not a secret


def digest(provider: str, value: str) -> str:
    """Return the hex SHA-256 of `provider:value`, the form in which credentials are kept."""
    return hashlib.sha256(f"{provider}:{value}".encode()).hexdigest()


@dataclass(frozen=True)
class Binding:
    """A credential bound to a mailbox, with the digest of the password it must come with."""

    email: str
    password_digest: str | None = field(default=None, repr=False)


class CredentialRegistry:
    """Credentials bound to mailboxes or revoked through the control API."""

    def __init__(self) -> None:
        self._bindings: dict[str, Binding] = {}
        self._revoked: set[str] = set()

    def bind(self, provider: str, secret: str, email: str, password: str | None = None) -> None:
        """Map a credential to `email`; for IMAP, iCloud and EWS also require `password`.

        `secret` is the refresh token for OAuth providers and the login name for the others
        (`imap_username`, `username`, `ews_username`). Raises ValueError on a bad argument.
        """
        _check_provider(provider)
        if "@" not in email:
            raise ValueError("email must be an email address")
        if password is not None and provider in OAUTH_PROVIDERS:
            raise ValueError(f"a password cannot be bound to an OAuth credential ({provider})")

        password_digest = digest(provider, password) if password is not None else None
        self._bindings[digest(provider, secret)] = Binding(email, password_digest)

    def revoke(self, provider: str, secret: str) -> None:
        """Make every later authentication with this credential fail with `invalid_grant`.

        `secret` is the refresh token for OAuth providers. For IMAP, iCloud and EWS it may be
        the login name or the password, and either revokes every login that uses it.
        """
        _check_provider(provider)
        self._revoked.add(digest(provider, secret))

    def check_not_revoked(self, provider: str, settings: ParsedSettings) -> None:
        """Raise NylasApiError (`invalid_grant`) when `settings` carry a revoked credential."""
        if self._uses_revoked_secret(provider, settings):
            raise _rejected(provider)

    def clear(self) -> None:
        self._bindings.clear()
        self._revoked.clear()

    def resolve_mailbox(self, request: ConnectRequest) -> str:
        """Return the mailbox the credentials belong to, as the provider would report it.

        Raises NylasApiError with `provider_error` `invalid_grant` when the credential is
        revoked or its password does not match the bound one.
        """
        if self._uses_revoked_secret(request.provider, request.settings):
            raise _rejected(request.provider)

        binding = self._bindings.get(digest(request.provider, _identity(request)))
        if binding is None:
            return derive_mailbox(request)

        _check_password(binding, request)
        return binding.email

    def _uses_revoked_secret(self, provider: str, settings: ParsedSettings) -> bool:
        names = (IDENTITY_FIELDS[provider], PASSWORD_FIELDS.get(provider))
        values = [settings.secret(name) for name in names if name is not None]
        return any(digest(provider, value) in self._revoked for value in values if value)


def derive_mailbox(request: ConnectRequest) -> str:
    """Apply the fixed mapping rules to credentials that no test has bound."""
    settings = request.settings
    if request.provider in OAUTH_PROVIDERS:
        return _oauth_mailbox(request.provider, _identity(request))
    if request.provider == "imap":
        return _imap_mailbox(_identity(request), settings.public.get("imap_host"))
    if request.provider == "ews":
        return settings.secret("email") or ""
    return _identity(request)


def _oauth_mailbox(provider: str, refresh_token: str) -> str:
    demo = _demo_mailbox(refresh_token)
    if demo is not None:
        return demo

    fingerprint = digest(provider, refresh_token)[:12]
    return f"user-{fingerprint}@{EXAMPLE_DOMAINS[provider]}"


def _demo_mailbox(refresh_token: str) -> str | None:
    """Return `<email>` from a token of the form `sim:<email>:<anything>`, else None."""
    if not refresh_token.startswith(DEMO_TOKEN_PREFIX):
        return None

    email, separator, _ = refresh_token.removeprefix(DEMO_TOKEN_PREFIX).partition(":")
    if not separator or "@" not in email:
        return None
    return email


def _imap_mailbox(username: str, host: str | int | None) -> str:
    if "@" in username:
        return username
    if not isinstance(host, str):
        raise invalid_request(
            "settings.imap_host is required when settings.imap_username is not an email address"
        )
    return f"{username}@{host}"


def _identity(request: ConnectRequest) -> str:
    # Validation has already required the identity field, so it is always present here.
    return request.settings.secret(IDENTITY_FIELDS[request.provider]) or ""


def _check_password(binding: Binding, request: ConnectRequest) -> None:
    if binding.password_digest is None:
        return

    submitted = request.settings.secret(PASSWORD_FIELDS[request.provider]) or ""
    if not hmac.compare_digest(binding.password_digest, digest(request.provider, submitted)):
        raise _rejected(request.provider)


def _rejected(provider: str) -> NylasApiError:
    if provider in OAUTH_PROVIDERS:
        return invalid_grant("Invalid or revoked refresh token")
    return invalid_grant("Invalid credentials: the provider rejected the login")


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(sorted(PROVIDERS))}")
