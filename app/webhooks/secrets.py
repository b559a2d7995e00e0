"""The webhook signing secrets accepted now, kept current from their source.

The setting's value may hold several secrets, one per line, and a delivery signed with any of
them is accepted. After the value changes, the lines of the previous value stay accepted for a
grace period, so a delivery signed before the change still verifies when it arrives late.

Nylas's `rotate-secret` call makes the old secret stop working at Nylas at once, and a delivery
rejected with 401 is not redelivered. Deliveries signed with the new secret before the broker
has read it are therefore lost, and the status sweep picks up what they reported.
"""

import asyncio
import hmac
import time
from collections.abc import Callable

import structlog
from pydantic import SecretStr

from app.core.config import Settings
from app.secrets import RotatingSecret, SecretManagerAccess, source_from_settings

log = structlog.get_logger(__name__)

WEBHOOK_SECRET_SETTING = "GRANT_BROKER_NYLAS_WEBHOOK_SECRET"  # noqa: S105 (a setting name)

# Nylas retries a failed delivery for 10 to 20 minutes after the first attempt, so the previous
# value stays accepted for longer than that.
# NOTE: whether Nylas signs a retry again with the current secret or resends the original
# signature is not documented. This period covers the second case.
DEFAULT_GRACE_PERIOD_SECONDS = 1800.0


class WebhookSecrets:
    """The signing secrets a delivery may be verified with, over a `RotatingSecret`.

    Times are in seconds of `clock`. No method returns or logs a value except `keys`.
    """

    def __init__(
        self,
        secret: RotatingSecret,
        *,
        refresh_interval: float,
        grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refresh_interval <= 0:
            raise ValueError(f"refresh_interval must be positive, got {refresh_interval}")
        if grace_period < 0:
            raise ValueError(f"grace_period must not be negative, got {grace_period}")
        self.secret = secret
        self._refresh_interval = refresh_interval
        self._grace_period = grace_period
        self._clock = clock
        self._value: SecretStr | None = None
        self._previous: tuple[SecretStr, ...] = ()
        self._previous_until: float | None = None

    async def load(self) -> None:
        """Fetch the first value. Raises `SecretLoadError`, after which the service should exit."""
        await self.secret.load()
        self._track_rotation()

    async def refresh(self) -> bool:
        """Fetch the value again and return True when it changed.

        A failed fetch keeps the current value, and `RotatingSecret` logs it instead of raising.
        """
        changed = await self.secret.refresh()
        self._track_rotation()
        return changed

    async def run_refresh_loop(self) -> None:
        """Refresh every `refresh_interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._refresh_interval)
            await self.refresh()

    def keys(self) -> list[SecretStr]:
        """Return the secrets to verify with now: the current lines, then the previous ones
        while the grace period runs. Raises RuntimeError before `load` succeeded."""
        self._track_rotation()
        current = _lines(self.secret.current())
        if not self._previous_accepted():
            return current
        return current + [key for key in self._previous if key not in current]

    def status(self) -> dict[str, object]:
        """Describe the state for readiness checks and logs, without any secret value."""
        remaining = None
        if self._previous_until is not None and self._previous_accepted():
            remaining = round(self._previous_until - self._clock(), 1)
        return {
            **self.secret.status(),
            "previous_value_accepted_for_seconds": remaining,
        }

    def __repr__(self) -> str:
        return f"WebhookSecrets(secret={self.secret!r})"

    def _previous_accepted(self) -> bool:
        return self._previous_until is not None and self._clock() < self._previous_until

    def _track_rotation(self) -> None:
        """Keep the previous value's lines for the grace period when the value changed.

        Called on every refresh and every `keys` call, so a change is noticed even when
        another task refreshed the `RotatingSecret`.
        """
        value = self.secret.current()
        previous = self._value
        self._value = value
        if previous is None or _same(previous, value):
            return

        self._previous = tuple(_lines(previous))
        self._previous_until = self._clock() + self._grace_period
        log.info(
            "webhook.secret_rotated",
            setting=self.secret.setting,
            version=self.secret.version,
            grace_period_seconds=self._grace_period,
        )


def build_webhook_secrets(
    settings: Settings,
    secret_manager: SecretManagerAccess | None,
    *,
    grace_period: float = DEFAULT_GRACE_PERIOD_SECONDS,
) -> WebhookSecrets | None:
    """Build the webhook secrets from the settings, or return None when no source is set.

    Raises `SecretLoadError` for conflicting or invalid settings, and ValueError when
    `GRANT_BROKER_NYLAS_WEBHOOK_SECRET_SECRET` is set but `secret_manager` is None. The result
    is not loaded yet: call `load()` before use.
    """
    if not _configured(settings):
        return None

    source = source_from_settings(
        setting=WEBHOOK_SECRET_SETTING,
        value=settings.nylas_webhook_secret,
        secret_name=settings.nylas_webhook_secret_secret,
        file_path=settings.nylas_webhook_secret_file,
        development=settings.is_development,
        secret_manager=secret_manager,
    )
    secret = RotatingSecret(
        WEBHOOK_SECRET_SETTING,
        source,
        refresh_interval=settings.secret_refresh_interval,
        max_age=settings.secret_max_age,
        rejection_min_interval=settings.secret_rejection_refetch_interval,
    )
    return WebhookSecrets(
        secret, refresh_interval=settings.secret_refresh_interval, grace_period=grace_period
    )


def _configured(settings: Settings) -> bool:
    # Blank values count as unset, as in `source_from_settings`.
    value = settings.nylas_webhook_secret
    name = settings.nylas_webhook_secret_secret
    return (
        (value is not None and bool(value.get_secret_value().strip()))
        or bool(name and name.strip())
        or settings.nylas_webhook_secret_file is not None
    )


def _lines(value: SecretStr) -> list[SecretStr]:
    """Split a value into its secrets: one per non-blank line, surrounding spaces removed."""
    keys: list[SecretStr] = []
    for line in value.get_secret_value().splitlines():
        key = SecretStr(line.strip())
        if key.get_secret_value() and key not in keys:
            keys.append(key)
    return keys


def _same(left: SecretStr, right: SecretStr) -> bool:
    return hmac.compare_digest(left.get_secret_value().encode(), right.get_secret_value().encode())
