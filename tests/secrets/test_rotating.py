"""RotatingSecret over the real client and the fake Secret Manager: refresh, outages, rejections."""

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from app.secrets import (
    FileSource,
    RotatingSecret,
    SecretLoadError,
    SecretLoadReason,
    SecretManagerAccess,
    SecretManagerSource,
    SecretSource,
    SecretVersion,
)
from tests.secrets.conftest import (
    CANARY_A,
    CANARY_B,
    LATEST,
    SECRET,
    SETTING,
    FakeClock,
    wait_until,
)
from tests.secrets.fake_secret_manager import FakeSecretManager

REFRESH_INTERVAL = 300.0
MAX_AGE = 3600.0
REJECTION_MIN_INTERVAL = 30.0
CONCURRENT_CALLERS = 50


def _rotating(
    source: SecretSource, clock: FakeClock, *, refresh_interval: float = REFRESH_INTERVAL
) -> RotatingSecret:
    return RotatingSecret(
        SETTING,
        source,
        refresh_interval=refresh_interval,
        max_age=MAX_AGE,
        rejection_min_interval=REJECTION_MIN_INTERVAL,
        clock=clock,
    )


@pytest.fixture
def version_a(fake_secret_manager: FakeSecretManager) -> str:
    return fake_secret_manager.add_version(SECRET, CANARY_A)


@pytest.fixture
async def api_key(
    version_a: str, secret_manager: SecretManagerAccess, clock: FakeClock
) -> RotatingSecret:
    """A RotatingSecret loaded with version 1 (CANARY_A) of the fake secret."""
    secret = _rotating(SecretManagerSource(SETTING, LATEST, secret_manager), clock)
    await secret.load()
    return secret


async def test_load_current_and_version(api_key: RotatingSecret, version_a: str) -> None:
    assert api_key.current().get_secret_value() == CANARY_A
    assert api_key.version == version_a
    assert api_key.age == 0
    assert api_key.stale is False


def test_current_before_load(secret_manager: SecretManagerAccess, clock: FakeClock) -> None:
    secret = _rotating(SecretManagerSource(SETTING, LATEST, secret_manager), clock)

    with pytest.raises(RuntimeError, match="not loaded yet"):
        secret.current()
    assert secret.stale is True
    assert secret.status()["version"] is None


async def test_load_failure_raises(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess, clock: FakeClock
) -> None:
    fake_secret_manager.denied.add(SECRET)
    secret = _rotating(SecretManagerSource(SETTING, LATEST, secret_manager), clock)

    with pytest.raises(SecretLoadError) as caught:
        await secret.load()

    assert caught.value.reason is SecretLoadReason.PERMISSION_DENIED
    assert secret.refresh_failures == 1


async def test_refresh_switches_version(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    version_b = fake_secret_manager.add_version(SECRET, CANARY_B)

    switched = await api_key.refresh()

    assert switched is True
    assert api_key.current().get_secret_value() == CANARY_B
    assert api_key.version == version_b


async def test_refresh_unchanged_resets_age(api_key: RotatingSecret, clock: FakeClock) -> None:
    clock.advance(100)

    switched = await api_key.refresh()

    assert switched is False
    assert api_key.age == 0


async def test_refresh_same_value_new_version(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    version_2 = fake_secret_manager.add_version(SECRET, CANARY_A)

    switched = await api_key.refresh()

    assert switched is True
    assert api_key.version == version_2


async def test_refresh_outage_keeps_last_good(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, version_a: str
) -> None:
    fake_secret_manager.fail(503)

    switched = await api_key.refresh()

    assert switched is False
    assert api_key.current().get_secret_value() == CANARY_A
    assert api_key.version == version_a
    assert api_key.refresh_failures == 1
    assert api_key.status()["consecutive_failures"] == 1
    assert "unavailable (HTTP 503" in str(api_key.status()["last_error"])


async def test_refresh_outage_turns_stale(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, clock: FakeClock
) -> None:
    fake_secret_manager.fail(503)
    await api_key.refresh()
    assert api_key.stale is False

    clock.advance(MAX_AGE + 1)
    await api_key.refresh()

    assert api_key.stale is True
    assert api_key.status()["stale"] is True
    assert api_key.status()["consecutive_failures"] == 2
    assert api_key.current().get_secret_value() == CANARY_A


async def test_refresh_recovers_after_outage(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, clock: FakeClock
) -> None:
    fake_secret_manager.fail(503)
    await api_key.refresh()
    clock.advance(MAX_AGE + 1)
    fake_secret_manager.clear_failure()

    await api_key.refresh()

    assert api_key.stale is False
    assert api_key.status()["consecutive_failures"] == 0
    assert api_key.status()["last_error"] is None
    assert api_key.refresh_failures == 1


async def test_refresh_failure_logged_without_value(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, version_a: str
) -> None:
    fake_secret_manager.fail(403)

    with capture_logs() as logs:
        await api_key.refresh()

    failures = [entry for entry in logs if entry["event"] == "secret.refresh_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"
    assert failures[0]["reason"] == "permission denied"
    assert failures[0]["version_in_use"] == version_a
    assert CANARY_A not in repr(logs)


async def test_refresh_stale_failure_logged_as_error(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, clock: FakeClock
) -> None:
    fake_secret_manager.fail(503)
    clock.advance(MAX_AGE + 1)

    with capture_logs() as logs:
        await api_key.refresh()

    assert [entry["log_level"] for entry in logs] == ["error"]


async def test_refresh_disabled_latest_keeps_last_good(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    version_b = fake_secret_manager.add_version(SECRET, CANARY_B)
    fake_secret_manager.set_state(version_b, "DISABLED")

    await api_key.refresh()

    assert api_key.current().get_secret_value() == CANARY_A
    assert "disabled or destroyed version" in str(api_key.status()["last_error"])


async def test_concurrent_refreshes_share_fetch(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_B)
    fake_secret_manager.delay_seconds = 0.2
    before = fake_secret_manager.access_count()

    results = await asyncio.gather(*(api_key.refresh() for _ in range(CONCURRENT_CALLERS)))

    assert fake_secret_manager.access_count() - before == 1
    assert set(results) == {True}


async def test_rejection_of_replaced_key_needs_no_fetch(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_B)
    await api_key.refresh()
    before = fake_secret_manager.access_count()

    retry = await api_key.refresh_after_rejection(SecretStr(CANARY_A))

    assert retry is True
    assert fake_secret_manager.access_count() == before


async def test_rejection_picks_up_new_version(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    version_b = fake_secret_manager.add_version(SECRET, CANARY_B)

    retry = await api_key.refresh_after_rejection(api_key.current())

    assert retry is True
    assert api_key.version == version_b


async def test_rejection_single_flight(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_B)
    fake_secret_manager.delay_seconds = 0.2
    before = fake_secret_manager.access_count()
    rejected = api_key.current()

    results = await asyncio.gather(
        *(api_key.refresh_after_rejection(rejected) for _ in range(CONCURRENT_CALLERS))
    )

    assert fake_secret_manager.access_count() - before == 1
    assert set(results) == {True}
    assert api_key.current().get_secret_value() == CANARY_B


async def test_rejection_unchanged_logs_once(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, version_a: str
) -> None:
    fake_secret_manager.delay_seconds = 0.2
    rejected = api_key.current()

    with capture_logs() as logs:
        results = await asyncio.gather(
            *(api_key.refresh_after_rejection(rejected) for _ in range(CONCURRENT_CALLERS))
        )

    assert set(results) == {False}
    errors = [entry for entry in logs if entry["event"] == "secret.rejected_version_unchanged"]
    assert len(errors) == 1
    assert errors[0]["version"] == version_a
    assert errors[0]["rejections_not_logged"] == CONCURRENT_CALLERS - 1
    assert CANARY_A not in repr(logs)


async def test_rejection_rate_limited(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, clock: FakeClock
) -> None:
    rejected = api_key.current()
    before = fake_secret_manager.access_count()

    for _ in range(10):
        assert await api_key.refresh_after_rejection(rejected) is False
        clock.advance(REJECTION_MIN_INTERVAL / 20)

    assert fake_secret_manager.access_count() - before == 1


async def test_rejection_allowed_after_interval(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager, clock: FakeClock
) -> None:
    rejected = api_key.current()
    await api_key.refresh_after_rejection(rejected)
    clock.advance(REJECTION_MIN_INTERVAL)
    version_b = fake_secret_manager.add_version(SECRET, CANARY_B)

    retry = await api_key.refresh_after_rejection(rejected)

    assert retry is True
    assert api_key.version == version_b


async def test_rejection_fetch_failure(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    fake_secret_manager.fail(404)

    with capture_logs() as logs:
        retry = await api_key.refresh_after_rejection(api_key.current())

    assert retry is False
    assert [entry["event"] for entry in logs] == ["secret.refresh_failed"]
    assert api_key.refresh_failures == 1


async def test_rejection_caller_cancelled_fetch_continues(
    api_key: RotatingSecret, fake_secret_manager: FakeSecretManager
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_B)
    fake_secret_manager.delay_seconds = 0.3
    rejected = api_key.current()
    first = asyncio.create_task(api_key.refresh_after_rejection(rejected))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(api_key.refresh_after_rejection(rejected))
    await asyncio.sleep(0.05)

    first.cancel()

    assert await second is True
    assert first.cancelled()


async def test_refresh_loop_picks_up_rotation(
    version_a: str,
    fake_secret_manager: FakeSecretManager,
    secret_manager: SecretManagerAccess,
    clock: FakeClock,
) -> None:
    source = SecretManagerSource(SETTING, LATEST, secret_manager)
    secret = _rotating(source, clock, refresh_interval=0.05)
    await secret.load()
    loop = asyncio.create_task(secret.run_refresh_loop())
    version_b = fake_secret_manager.add_version(SECRET, CANARY_B)

    await wait_until(lambda: secret.version == version_b)
    loop.cancel()

    with pytest.raises(asyncio.CancelledError):
        await loop
    assert secret.current().get_secret_value() == CANARY_B


class _BrokenSource:
    """A source with a bug: it raises something other than SecretLoadError."""

    description = "broken source"

    def __init__(self) -> None:
        self.calls = 0

    async def fetch(self) -> SecretVersion:
        self.calls += 1
        if self.calls == 1:
            return SecretVersion(SecretStr(CANARY_A), "v1")
        raise KeyError(CANARY_B)


async def test_refresh_loop_survives_source_bug(clock: FakeClock) -> None:
    source = _BrokenSource()
    secret = _rotating(source, clock, refresh_interval=0.01)
    await secret.load()

    with capture_logs() as logs:
        loop = asyncio.create_task(secret.run_refresh_loop())
        await wait_until(lambda: source.calls >= 4)
        running = not loop.done()
        loop.cancel()

    assert running is True
    assert secret.refresh_failures >= 2
    assert secret.current().get_secret_value() == CANARY_A
    assert "failed (KeyError)" in str(secret.status()["last_error"])
    assert CANARY_B not in repr(logs)


@pytest.mark.parametrize("name", ["refresh_interval", "max_age", "rejection_min_interval"])
def test_rotating_rejects_nonpositive_interval(name: str, clock: FakeClock) -> None:
    intervals = {"refresh_interval": 1.0, "max_age": 1.0, "rejection_min_interval": 1.0}
    intervals[name] = 0

    with pytest.raises(ValueError, match=f"{name} must be positive"):
        RotatingSecret(SETTING, _BrokenSource(), clock=clock, **intervals)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-key"
    path.write_text(CANARY_A)
    os.utime(path, ns=(10**18, 10**18))
    return path


async def test_file_rotation_detected(key_file: Path, clock: FakeClock) -> None:
    secret = _rotating(FileSource(SETTING, key_file), clock)
    await secret.load()
    replacement = key_file.with_name("api-key.new")
    replacement.write_text(CANARY_B)
    os.utime(replacement, ns=(2 * 10**18, 2 * 10**18))

    os.replace(replacement, key_file)
    switched = await secret.refresh()

    assert switched is True
    assert secret.version == f"file:{2 * 10**18}"
    assert secret.current().get_secret_value() == CANARY_B
