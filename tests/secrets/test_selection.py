"""Which source `source_from_settings` picks, and what it rejects with which message."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.secrets import (
    FileSource,
    PlainValueSource,
    SecretLoadError,
    SecretLoadReason,
    SecretManagerAccess,
    SecretManagerSource,
    SecretSource,
    source_from_settings,
)
from tests.secrets.conftest import CANARY_A, LATEST, SETTING

FILE = Path("/var/run/secrets/nylas/api-key")
CHOOSE_ONE = (
    "Set exactly one of GRANT_BROKER_NYLAS_API_KEY_SECRET, GRANT_BROKER_NYLAS_API_KEY_FILE, "
    "GRANT_BROKER_NYLAS_API_KEY."
)


@pytest.fixture
def unused_access() -> Iterator[SecretManagerAccess]:
    # Never called: choosing a source does not read it.
    access = SecretManagerAccess(endpoint="http://127.0.0.1:9", timeout=1.0)
    yield access
    access.close()


def _select(
    access: SecretManagerAccess | None,
    *,
    value: str | None = None,
    secret_name: str | None = None,
    file_path: Path | None = None,
    development: bool = False,
) -> SecretSource:
    return source_from_settings(
        setting=SETTING,
        value=SecretStr(value) if value is not None else None,
        secret_name=secret_name,
        file_path=file_path,
        development=development,
        secret_manager=access,
    )


def _selection_error(access: SecretManagerAccess | None, **options: object) -> SecretLoadError:
    with pytest.raises(SecretLoadError) as caught:
        _select(access, **options)  # type: ignore[arg-type]
    return caught.value


def test_select_secret_manager(unused_access: SecretManagerAccess) -> None:
    source = _select(unused_access, secret_name=LATEST)

    assert isinstance(source, SecretManagerSource)
    assert source.description == f"Secret Manager {LATEST}"


def test_select_file(unused_access: SecretManagerAccess) -> None:
    source = _select(unused_access, file_path=FILE)

    assert isinstance(source, FileSource)
    assert source.description == f"file {FILE}"


def test_select_plain_value_in_development() -> None:
    source = _select(None, value=CANARY_A, development=True)

    assert isinstance(source, PlainValueSource)
    assert source.description == f"environment variable {SETTING}"


def test_select_empty_value_counts_as_unset(unused_access: SecretManagerAccess) -> None:
    source = _select(unused_access, value="", secret_name=LATEST)

    assert isinstance(source, SecretManagerSource)


def test_select_plain_value_rejected_in_production() -> None:
    error = _selection_error(None, value=CANARY_A)

    assert error.reason is SecretLoadReason.PLAIN_VALUE_REJECTED
    assert f"{SETTING}_SECRET" in str(error)
    assert f"{SETTING}_FILE" in str(error)
    assert CANARY_A not in str(error)


def test_select_nothing_configured() -> None:
    error = _selection_error(None, development=True)

    assert error.reason is SecretLoadReason.NOT_CONFIGURED
    assert str(error) == (
        f"{SETTING} could not be loaded from the settings: not configured. {CHOOSE_ONE}"
    )


@pytest.mark.parametrize(
    "options",
    [
        {"value": CANARY_A, "secret_name": LATEST},
        {"value": CANARY_A, "file_path": FILE},
        {"secret_name": LATEST, "file_path": FILE},
        {"value": CANARY_A, "secret_name": LATEST, "file_path": FILE},
    ],
    ids=["value_and_secret", "value_and_file", "secret_and_file", "all_three"],
)
def test_select_conflicting(unused_access: SecretManagerAccess, options: dict[str, object]) -> None:
    error = _selection_error(unused_access, development=True, **options)

    assert error.reason is SecretLoadReason.CONFLICTING_SETTINGS
    assert CHOOSE_ONE in str(error)
    assert CANARY_A not in str(error)


@pytest.mark.parametrize(
    "name",
    [
        "projects/grant-broker-test/secrets/nylas-api-key/versions/latest",
        "projects/123456789/secrets/nylas-api-key/versions/7",
        "projects/grant-broker-test/secrets/nylas_api_key/versions/current-alias",
    ],
)
def test_select_valid_secret_names(unused_access: SecretManagerAccess, name: str) -> None:
    source = _select(unused_access, secret_name=name)

    assert isinstance(source, SecretManagerSource)


@pytest.mark.parametrize(
    "name",
    [
        "nylas-api-key",
        "projects/grant-broker-test/secrets/nylas-api-key",
        "projects/grant-broker-test/secrets/nylas-api-key/versions/",
        "projects/p/locations/europe-west1/secrets/nylas-api-key/versions/1",
        "https://secretmanager.googleapis.com/v1/projects/p/secrets/s/versions/1",
        # An API key pasted into the wrong variable must not be echoed.
        CANARY_A,
    ],
)
def test_select_invalid_secret_name(unused_access: SecretManagerAccess, name: str) -> None:
    error = _selection_error(unused_access, secret_name=name)

    assert error.reason is SecretLoadReason.INVALID_SECRET_NAME
    assert "projects/PROJECT/secrets/SECRET/versions/latest" in str(error)
    assert name not in str(error)


def test_select_relative_file_path(unused_access: SecretManagerAccess) -> None:
    error = _selection_error(unused_access, file_path=Path(CANARY_A))

    assert error.reason is SecretLoadReason.INVALID_FILE_PATH
    assert f"{SETTING}_FILE" in str(error)
    assert CANARY_A not in str(error)


def test_select_secret_without_access() -> None:
    with pytest.raises(ValueError, match="no SecretManagerAccess"):
        _select(None, secret_name=LATEST)
