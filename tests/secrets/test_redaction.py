"""Canary secret values never reach a log line, a repr or str, or an exception message."""

import io
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from app.core.logging import configure_logging
from app.secrets import (
    FileSource,
    PlainValueSource,
    RotatingSecret,
    SecretLoadError,
    SecretManagerAccess,
    SecretManagerSource,
    SecretSource,
    source_from_settings,
)
from tests.secrets.conftest import CANARY_A, CANARY_B, LATEST, SECRET, SETTING, FakeClock
from tests.secrets.fake_secret_manager import FakeSecretManager

CANARIES = (CANARY_A, CANARY_B)


def _rotating(source: SecretSource, clock: FakeClock) -> RotatingSecret:
    return RotatingSecret(
        SETTING, source, refresh_interval=60, max_age=120, rejection_min_interval=1, clock=clock
    )


def _exception_texts(error: BaseException) -> list[str]:
    """Return str and repr of `error` and of every exception chained to it."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


async def _secret_manager_paths(
    fake: FakeSecretManager, access: SecretManagerAccess, clock: FakeClock
) -> list[object]:
    """Load, rotate, fail and reject through Secret Manager, and return every object touched."""
    fake.add_version(SECRET, CANARY_A)
    source = SecretManagerSource(SETTING, LATEST, access)
    secret = _rotating(source, clock)
    await secret.load()
    seen: list[object] = [source, secret, access, await source.fetch()]

    for status in (403, 404, 503):
        fake.fail(status)
        await secret.refresh()
        seen.append(secret.status())
    fake.clear_failure()
    clock.advance(200)
    await secret.refresh_after_rejection(secret.current())

    fake.wrong_checksum = True
    await secret.refresh()
    fake.wrong_checksum = False
    disabled = fake.add_version(SECRET, CANARY_B)
    fake.set_state(disabled, "DISABLED")
    await secret.refresh()
    fake.add_version(SECRET, CANARY_B)
    clock.advance(2)
    await secret.refresh_after_rejection(SecretStr(CANARY_A))
    seen += [secret, secret.status()]

    fake.fail(503)
    try:
        await _rotating(source, clock).load()
    except SecretLoadError as exc:
        seen.append(exc)
    return seen


async def _file_and_plain_paths(tmp_path: Path, clock: FakeClock) -> list[object]:
    path = tmp_path / "api-key"
    path.write_text(CANARY_A)
    file_source = FileSource(SETTING, path)
    secret = _rotating(file_source, clock)
    await secret.load()
    path.write_text(CANARY_B)
    await secret.refresh()
    path.write_text("")
    await secret.refresh()
    path.unlink()
    await secret.refresh()
    seen: list[object] = [file_source, secret, secret.status()]

    plain = PlainValueSource(SETTING, SecretStr(CANARY_A))
    seen += [plain, await plain.fetch()]
    for options in (
        {"value": SecretStr(CANARY_A), "development": False, "secret_name": None},
        {"value": SecretStr(CANARY_A), "development": True, "secret_name": LATEST},
        {"value": None, "development": False, "secret_name": CANARY_B},
    ):
        try:
            source_from_settings(
                setting=SETTING,
                file_path=None,
                secret_manager=None,
                **options,
            )
        except SecretLoadError as exc:
            seen.append(exc)
    return seen


async def _every_path(
    fake: FakeSecretManager, access: SecretManagerAccess, clock: FakeClock, tmp_path: Path
) -> list[object]:
    return [
        *await _secret_manager_paths(fake, access, clock),
        *await _file_and_plain_paths(tmp_path, clock),
    ]


def _texts_of(objects: list[object]) -> list[str]:
    texts: list[str] = []
    for item in objects:
        if isinstance(item, BaseException):
            texts += _exception_texts(item)
        else:
            texts += [str(item), repr(item)]
    return texts


def _assert_no_canary(texts: list[str]) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


async def test_canary_absent_from_structlog_events(
    fake_secret_manager: FakeSecretManager,
    secret_manager: SecretManagerAccess,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    with capture_logs() as logs:
        objects = await _every_path(fake_secret_manager, secret_manager, clock, tmp_path)

    assert {entry["event"] for entry in logs} >= {
        "secret.loaded",
        "secret.rotated",
        "secret.refresh_failed",
        "secret.rejected_version_unchanged",
    }
    _assert_no_canary([repr(entry) for entry in logs])
    _assert_no_canary(_texts_of(objects))


async def test_canary_absent_from_rendered_logs(
    fake_secret_manager: FakeSecretManager,
    secret_manager: SecretManagerAccess,
    clock: FakeClock,
    tmp_path: Path,
    log_output: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging(level="DEBUG", json=True)
    caplog.set_level(logging.DEBUG)

    objects = await _every_path(fake_secret_manager, secret_manager, clock, tmp_path)

    rendered = log_output.getvalue()
    assert "secret.rotated" in rendered
    assert "secret.refresh_failed" in rendered
    _assert_no_canary([rendered, caplog.text])
    _assert_no_canary([repr(record.__dict__) for record in caplog.records])
    _assert_no_canary(_texts_of(objects))
