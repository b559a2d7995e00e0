"""Webhook signing secrets: sources, several lines, and the grace period after a change."""

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.core.config import Environment, Settings
from app.secrets import FileSource, RotatingSecret, SecretLoadError, SecretLoadReason
from app.webhooks.secrets import (
    WEBHOOK_SECRET_SETTING,
    WebhookSecrets,
    build_webhook_secrets,
)

CANARY_OLD = "canary-webhook-old-5b7e21-DO-NOT-LOG"
CANARY_NEW = "canary-webhook-new-c04d9a-DO-NOT-LOG"
GRACE_PERIOD = 600.0


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _settings(**values: object) -> Settings:
    return Settings(env=Environment.DEVELOPMENT, **values)  # type: ignore[arg-type]


def _values(keys: list[SecretStr]) -> list[str]:
    return [key.get_secret_value() for key in keys]


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    # An explicit mtime, so the version changes even within the file system's time resolution.
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _file_secrets(path: Path, clock: FakeClock) -> WebhookSecrets:
    source = FileSource(WEBHOOK_SECRET_SETTING, path)
    secret = RotatingSecret(
        WEBHOOK_SECRET_SETTING,
        source,
        refresh_interval=60,
        max_age=3600,
        rejection_min_interval=30,
        clock=clock,
    )
    return WebhookSecrets(secret, refresh_interval=60, grace_period=GRACE_PERIOD, clock=clock)


def test_build_without_source_returns_none() -> None:
    assert build_webhook_secrets(_settings(), None) is None


def test_build_blank_value_counts_as_unset() -> None:
    assert build_webhook_secrets(_settings(nylas_webhook_secret=SecretStr("  ")), None) is None


async def test_plain_value_loads() -> None:
    secrets = build_webhook_secrets(_settings(nylas_webhook_secret=SecretStr(CANARY_NEW)), None)
    assert secrets is not None

    await secrets.load()

    assert _values(secrets.keys()) == [CANARY_NEW]


async def test_value_lines_are_separate_secrets() -> None:
    value = f"{CANARY_NEW}\r\n\n  {CANARY_OLD}  \n{CANARY_NEW}\n"
    secrets = build_webhook_secrets(_settings(nylas_webhook_secret=SecretStr(value)), None)
    assert secrets is not None

    await secrets.load()

    assert _values(secrets.keys()) == [CANARY_NEW, CANARY_OLD]


def test_plain_value_rejected_in_production() -> None:
    settings = Settings(env=Environment.PRODUCTION, nylas_webhook_secret=SecretStr(CANARY_NEW))

    with pytest.raises(SecretLoadError) as raised:
        build_webhook_secrets(settings, None)

    assert raised.value.reason is SecretLoadReason.PLAIN_VALUE_REJECTED
    assert WEBHOOK_SECRET_SETTING in str(raised.value)
    assert CANARY_NEW not in str(raised.value)


def test_conflicting_sources_rejected(tmp_path: Path) -> None:
    settings = _settings(
        nylas_webhook_secret=SecretStr(CANARY_NEW), nylas_webhook_secret_file=tmp_path / "secret"
    )

    with pytest.raises(SecretLoadError) as raised:
        build_webhook_secrets(settings, None)

    assert raised.value.reason is SecretLoadReason.CONFLICTING_SETTINGS


def test_secret_manager_name_needs_access() -> None:
    settings = _settings(
        nylas_webhook_secret_secret="projects/p/secrets/nylas-webhook/versions/latest"
    )

    with pytest.raises(ValueError, match="SecretManagerAccess"):
        build_webhook_secrets(settings, None)


async def test_file_source_loads(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    _write(path, CANARY_NEW + "\n", 1)
    secrets = build_webhook_secrets(_settings(nylas_webhook_secret_file=path), None)
    assert secrets is not None

    await secrets.load()

    assert _values(secrets.keys()) == [CANARY_NEW]


async def test_previous_value_accepted_during_grace(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()

    _write(path, CANARY_NEW, 2)
    changed = await secrets.refresh()
    clock.now += GRACE_PERIOD - 1

    assert changed
    assert _values(secrets.keys()) == [CANARY_NEW, CANARY_OLD]


async def test_previous_value_dropped_after_grace(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()

    _write(path, CANARY_NEW, 2)
    await secrets.refresh()
    clock.now += GRACE_PERIOD

    assert _values(secrets.keys()) == [CANARY_NEW]


async def test_rotation_noticed_without_own_refresh(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()

    _write(path, CANARY_NEW, 2)
    # Another task refreshed the underlying secret, as a shared refresh loop would.
    await secrets.secret.refresh()

    assert _values(secrets.keys()) == [CANARY_NEW, CANARY_OLD]


async def test_unchanged_refresh_keeps_one_value(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()

    changed = await secrets.refresh()

    assert not changed
    assert _values(secrets.keys()) == [CANARY_OLD]


async def test_failed_refresh_keeps_value(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()

    path.unlink()
    changed = await secrets.refresh()

    assert not changed
    assert _values(secrets.keys()) == [CANARY_OLD]


def test_keys_before_load_raise(tmp_path: Path) -> None:
    secrets = _file_secrets(tmp_path / "webhook-secret", FakeClock())

    with pytest.raises(RuntimeError, match="not loaded"):
        secrets.keys()


async def test_status_and_repr_hold_no_value(tmp_path: Path) -> None:
    path = tmp_path / "webhook-secret"
    clock = FakeClock()
    _write(path, CANARY_OLD, 1)
    secrets = _file_secrets(path, clock)
    await secrets.load()
    _write(path, CANARY_NEW, 2)
    await secrets.refresh()

    described = f"{secrets!r} {secrets.status()}"

    assert secrets.status()["previous_value_accepted_for_seconds"] == GRACE_PERIOD
    assert CANARY_OLD not in described
    assert CANARY_NEW not in described


@pytest.mark.parametrize(("refresh_interval", "grace_period"), [(0, 1), (1, -1)])
def test_invalid_periods_rejected(
    tmp_path: Path, refresh_interval: float, grace_period: float
) -> None:
    secret = _file_secrets(tmp_path / "s", FakeClock()).secret

    with pytest.raises(ValueError, match="must"):
        WebhookSecrets(secret, refresh_interval=refresh_interval, grace_period=grace_period)
