"""The real Secret Manager client (REST) against the fake: values, versions and every failure."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.secrets import (
    SecretLoadError,
    SecretLoadReason,
    SecretManagerAccess,
    SecretManagerSource,
)
from app.secrets.checksum import crc32c
from app.secrets.secret_manager import uses_anonymous_credentials
from tests.secrets.conftest import ACCESS_TIMEOUT, CANARY_A, CANARY_B, LATEST, SECRET, SETTING
from tests.secrets.fake_secret_manager import FakeSecretManager

# Every access, retries included, must end within the timeout plus the event loop's grace.
MAX_ACCESS_SECONDS = ACCESS_TIMEOUT + 1.0


def _source(access: SecretManagerAccess, name: str = LATEST) -> SecretManagerSource:
    return SecretManagerSource(SETTING, name, access)


async def _load_error(source: SecretManagerSource) -> SecretLoadError:
    with pytest.raises(SecretLoadError) as caught:
        await source.fetch()
    return caught.value


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_access_latest_resolves_version(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_A)
    newest = fake_secret_manager.add_version(SECRET, CANARY_B)

    value, version = await secret_manager.access(LATEST)

    assert value.get_secret_value() == CANARY_B
    assert version == newest
    assert version == f"{SECRET}/versions/2"


async def test_access_pinned_version(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    first = fake_secret_manager.add_version(SECRET, CANARY_A)
    fake_secret_manager.add_version(SECRET, CANARY_B)

    value, version = await secret_manager.access(first)

    assert value.get_secret_value() == CANARY_A
    assert version == first


async def test_access_strips_trailing_newline(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_A + "\n")

    value, _ = await secret_manager.access(LATEST)

    assert value.get_secret_value() == CANARY_A


async def test_access_retries_transient_503(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_A)
    fake_secret_manager.fail(503, times=1)

    value, _ = await secret_manager.access(LATEST)

    assert value.get_secret_value() == CANARY_A
    assert fake_secret_manager.access_count() == 2


async def test_source_fetch_returns_version(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    version_name = fake_secret_manager.add_version(SECRET, CANARY_A)

    fetched = await _source(secret_manager).fetch()

    assert fetched.value.get_secret_value() == CANARY_A
    assert fetched.version == version_name


def _deny(fake: FakeSecretManager) -> str:
    fake.denied.add(SECRET)
    return LATEST


def _set_latest_state(state: str) -> Callable[[FakeSecretManager], str]:
    def arrange(fake: FakeSecretManager) -> str:
        fake.set_state(f"{SECRET}/versions/1", state)
        return LATEST

    return arrange


def _fail(status: int) -> Callable[[FakeSecretManager], str]:
    def arrange(fake: FakeSecretManager) -> str:
        fake.fail(status)
        return LATEST

    return arrange


def _unknown_secret(fake: FakeSecretManager) -> str:
    return "projects/grant-broker-test/secrets/missing/versions/latest"


def _unknown_version(fake: FakeSecretManager) -> str:
    return f"{SECRET}/versions/9"


def _wrong_checksum(fake: FakeSecretManager) -> str:
    fake.wrong_checksum = True
    return LATEST


def _payload(data: bytes) -> Callable[[FakeSecretManager], str]:
    def arrange(fake: FakeSecretManager) -> str:
        fake.add_version(SECRET, data)
        return LATEST

    return arrange


# (arrange the fake and return the name to read, expected reason, expected message part)
FAILURES: dict[str, tuple[Callable[[FakeSecretManager], str], SecretLoadReason, str]] = {
    "secret_not_found": (_unknown_secret, SecretLoadReason.NOT_FOUND, "not found (HTTP 404)"),
    "version_not_found": (_unknown_version, SecretLoadReason.NOT_FOUND, "not found (HTTP 404)"),
    "permission_denied": (
        _deny,
        SecretLoadReason.PERMISSION_DENIED,
        "permission denied (HTTP 403). Grant roles/secretmanager.secretAccessor",
    ),
    "unauthenticated": (
        _fail(401),
        SecretLoadReason.UNAUTHENTICATED,
        "unauthenticated (HTTP 401",
    ),
    "disabled": (
        _set_latest_state("DISABLED"),
        SecretLoadReason.DISABLED_OR_DESTROYED,
        "disabled or destroyed version (HTTP 400)",
    ),
    "destroyed": (
        _set_latest_state("DESTROYED"),
        SecretLoadReason.DISABLED_OR_DESTROYED,
        "disabled or destroyed version (HTTP 400)",
    ),
    "invalid_argument": (_fail(400), SecretLoadReason.INVALID_REQUEST, "(HTTP 400)"),
    "unavailable_503": (
        _fail(503),
        SecretLoadReason.UNAVAILABLE,
        "unavailable (HTTP 503, retried until the timeout)",
    ),
    "internal_500": (_fail(500), SecretLoadReason.UNAVAILABLE, "unavailable (HTTP 500"),
    "rate_limited_429": (_fail(429), SecretLoadReason.UNAVAILABLE, "unavailable (HTTP 429"),
    "gateway_timeout_504": (_fail(504), SecretLoadReason.UNAVAILABLE, "unavailable (HTTP 504)"),
    "wrong_checksum": (_wrong_checksum, SecretLoadReason.CHECKSUM_MISMATCH, "checksum mismatch"),
}

PAYLOAD_FAILURES: dict[str, tuple[bytes, SecretLoadReason]] = {
    "empty": (b"", SecretLoadReason.EMPTY_VALUE),
    "whitespace": (b" \n", SecretLoadReason.EMPTY_VALUE),
    "not_utf8": (b"\xff\xfe\xfd", SecretLoadReason.NOT_UTF8),
}


@pytest.mark.parametrize("case", FAILURES)
async def test_source_failure_reason(
    case: str, fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    arrange, reason, message_part = FAILURES[case]
    fake_secret_manager.add_version(SECRET, CANARY_A)
    name = arrange(fake_secret_manager)

    error = await _load_error(_source(secret_manager, name))

    assert error.reason is reason
    assert error.setting == SETTING
    assert error.source == f"Secret Manager {name}"
    assert str(error).startswith(f"{SETTING} could not be loaded from Secret Manager {name}: ")
    assert message_part in str(error)
    assert CANARY_A not in str(error)


@pytest.mark.parametrize("case", PAYLOAD_FAILURES)
async def test_source_payload_rejected(
    case: str, fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    data, reason = PAYLOAD_FAILURES[case]
    fake_secret_manager.add_version(SECRET, data)

    error = await _load_error(_source(secret_manager))

    assert error.reason is reason
    assert str(reason) in str(error)


async def test_source_slow_server_times_out(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_A)
    fake_secret_manager.delay_seconds = ACCESS_TIMEOUT * 3
    started = time.monotonic()

    error = await _load_error(_source(secret_manager))

    assert error.reason is SecretLoadReason.TIMED_OUT
    assert "timed out" in str(error)
    assert time.monotonic() - started < MAX_ACCESS_SECONDS


async def test_source_outage_bounded_in_time(
    fake_secret_manager: FakeSecretManager, secret_manager: SecretManagerAccess
) -> None:
    fake_secret_manager.add_version(SECRET, CANARY_A)
    fake_secret_manager.fail(503)
    started = time.monotonic()

    await _load_error(_source(secret_manager))

    assert time.monotonic() - started < MAX_ACCESS_SECONDS
    assert fake_secret_manager.access_count() > 1


async def test_source_unreachable_endpoint() -> None:
    access = SecretManagerAccess(endpoint=f"http://127.0.0.1:{_free_port()}", timeout=0.5)
    try:
        error = await _load_error(_source(access))
    finally:
        access.close()

    assert error.reason is SecretLoadReason.UNREACHABLE
    assert "unreachable (ConnectionError, retried until the timeout)" in str(error)


@pytest.fixture
def missing_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Application Default Credentials pointing at a file that does not exist.

    google-auth reads GOOGLE_APPLICATION_CREDENTIALS first and fails on the missing file
    before it tries any other credential source, so nothing leaves the machine.
    """
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))


@pytest.mark.usefixtures("missing_credentials")
async def test_source_without_credentials() -> None:
    # An https endpoint on loopback uses Application Default Credentials, which are missing.
    access = SecretManagerAccess(endpoint=f"https://127.0.0.1:{_free_port()}", timeout=0.5)
    try:
        error = await _load_error(_source(access))
    finally:
        access.close()

    assert error.reason is SecretLoadReason.NO_CREDENTIALS
    assert "Application Default Credentials" in str(error)


@pytest.mark.parametrize(
    ("endpoint", "anonymous"),
    [
        ("http://127.0.0.1:8085", True),
        ("https://secretmanager.p.example.internal", False),
        (None, False),
    ],
)
def test_credentials_by_endpoint(endpoint: str | None, anonymous: bool) -> None:
    assert uses_anonymous_credentials(endpoint) is anonymous


def test_access_rejects_nonpositive_timeout() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        SecretManagerAccess(endpoint=None, timeout=0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # The catalogued check value of CRC-32C: the CRC of the ASCII digits 1 to 9.
        (b"123456789", 0xE3069283),
        # Test vectors of the iSCSI specification, which lists the CRC bytes in little-endian
        # order.
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (b"dog", 0x0A72A4DF),
        (b"", 0),
    ],
)
def test_crc32c_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected
