"""Sources of the Nylas API key that the client sends as a bearer token."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class ApiKeyProvider(Protocol):
    """Supplies the current Nylas API key and reacts when Nylas rejects it."""

    def current(self) -> SecretStr:
        """Return the API key to send now."""
        ...

    async def refresh_after_rejection(self, rejected: SecretStr) -> bool:
        """Reload the key after Nylas rejected the key `rejected` with HTTP 401.

        Returns True when a different key is now current, so one more attempt is worthwhile.
        """
        ...


class StaticApiKey:
    """An `ApiKeyProvider` over one fixed key, which cannot be refreshed."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def current(self) -> SecretStr:
        return self._key

    async def refresh_after_rejection(self, rejected: SecretStr) -> bool:
        return False

    def __repr__(self) -> str:
        return f"StaticApiKey({self._key!r})"
