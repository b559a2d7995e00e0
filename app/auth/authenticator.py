"""The authenticator: identifies the caller in the configured mode and checks its permissions."""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers

from app.auth.config import AuthConfig, AuthMode, AuthSettings, load_auth_config
from app.auth.errors import PermissionDeniedError
from app.auth.identity import mesh_principal_of, token_principal_of
from app.auth.permissions import Caller, Permission
from app.auth.principals import ANONYMOUS
from app.auth.tokens import CallerTokens, caller_tokens_secret
from app.secrets import SecretManagerAccess

log = structlog.get_logger(__name__)


class Authenticator:
    """Turns a request's headers into a `Caller`, or raises a 401 or 403 problem.

    Build it with `from_settings` when the app is created, so invalid settings stop the start,
    then `await load()` in the lifespan (it reads the caller tokens in token mode) and run
    `run_refresh_loop()` as a task. The caller map itself is read once: changing it needs a
    restart.
    """

    def __init__(self, config: AuthConfig, *, tokens: CallerTokens | None = None) -> None:
        if config.mode is AuthMode.TOKEN and tokens is None:
            raise ValueError("token mode needs the caller tokens")
        self.mode = config.mode
        self._callers = dict(config.callers)
        self._tokens = tokens

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, secret_manager: SecretManagerAccess | None = None
    ) -> Authenticator:
        """Validate the settings. Raises AuthConfigError, or SecretLoadError for the tokens.

        `secret_manager` is needed when GRANT_BROKER_CALLER_TOKENS_SECRET is set.
        """
        config = load_auth_config(settings)
        tokens = None
        if config.mode is AuthMode.TOKEN:
            tokens = CallerTokens(caller_tokens_secret(settings, secret_manager), config.callers)
        log.info("auth.configured", mode=config.mode.value, callers=len(config.callers))
        return cls(config, tokens=tokens)

    async def load(self) -> None:
        """Load the caller tokens in token mode; nothing to do otherwise.

        Raises SecretLoadError or AuthConfigError, after which the service should exit.
        """
        if self._tokens is not None:
            await self._tokens.load()

    async def run_refresh_loop(self) -> None:
        """Keep the caller tokens current in token mode; returns at once in the other modes."""
        if self._tokens is not None:
            await self._tokens.run_refresh_loop()

    def status(self) -> dict[str, object]:
        """The mode, and in token mode the token secret's version and age, for /readyz."""
        status: dict[str, object] = {"mode": self.mode.value}
        if self._tokens is not None:
            status["caller_tokens"] = self._tokens.status()
        return status

    def authorize(self, headers: Headers, required: frozenset[Permission]) -> Caller:
        """Identify the caller and check that it has every permission in `required`.

        Binds the principal to the structlog context, also when the answer is 403, so the
        request's log line shows who was rejected. Raises AuthenticationError (401) or
        PermissionDeniedError (403).
        """
        principal = self.identify(headers)
        structlog.contextvars.bind_contextvars(principal=principal)

        permissions = self._callers.get(principal)
        if permissions is None:
            log.info("auth.forbidden", principal=principal, reason="not_configured")
            if required:
                raise PermissionDeniedError.lacking(principal, required)
            raise PermissionDeniedError.not_configured(principal)
        missing = required - permissions
        if missing:
            log.info("auth.forbidden", principal=principal, missing=sorted(missing))
            raise PermissionDeniedError.lacking(principal, missing)
        return Caller(principal, permissions)

    def identify(self, headers: Headers) -> str:
        """Return the request's principal, without checking permissions. Raises 401 errors."""
        if self.mode is AuthMode.MESH:
            return mesh_principal_of(headers)
        if self._tokens is not None:
            return token_principal_of(headers, self._tokens)
        return ANONYMOUS
