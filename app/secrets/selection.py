"""Choice of the source of a secret setting from its three environment variables."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from app.secrets.errors import SecretLoadError, SecretLoadReason
from app.secrets.secret_manager import SecretManagerAccess
from app.secrets.sources import FileSource, PlainValueSource, SecretManagerSource, SecretSource

# A global secret version: project id or number, secret id, and a version number, `latest` or
# an alias. Regional secrets (`projects/p/locations/l/...`) need a regional endpoint and are not
# supported.
_SECRET_VERSION_NAME = re.compile(
    r"projects/[a-z0-9][a-z0-9-]*/secrets/[A-Za-z0-9_-]{1,255}/versions/[A-Za-z0-9_-]+"
)


def source_from_settings(
    *,
    setting: str,
    value: SecretStr | None,
    secret_name: str | None,
    file_path: Path | None,
    development: bool,
    secret_manager: SecretManagerAccess | None,
) -> SecretSource:
    """Return the one source configured for `setting`, such as GRANT_BROKER_NYLAS_API_KEY.

    The setting is read from `<setting>_SECRET` (a Secret Manager version name), `<setting>_FILE`
    (an absolute file path) or `<setting>` itself (a plain value, development only). Exactly one
    must be set, and an empty value counts as unset. Raises `SecretLoadError` naming the
    variables to fix; the messages never repeat the given values, in case a key was pasted into
    the wrong variable. `secret_manager` must be given when `secret_name` is set.
    """
    plain = value if value is not None and value.get_secret_value().strip() else None
    name = secret_name.strip() if secret_name and secret_name.strip() else None
    _reject_conflicts(setting, plain=plain, name=name, file_path=file_path)

    if name is not None:
        return _secret_manager_source(setting, name, secret_manager)
    if file_path is not None:
        return _file_source(setting, file_path)
    if plain is not None:
        return _plain_value_source(setting, plain, development)
    raise _settings_error(setting, SecretLoadReason.NOT_CONFIGURED, _choose_one(setting))


def _choose_one(setting: str) -> str:
    return f"Set exactly one of {setting}_SECRET, {setting}_FILE, {setting}."


def _reject_conflicts(
    setting: str, *, plain: SecretStr | None, name: str | None, file_path: Path | None
) -> None:
    if sum(option is not None for option in (plain, name, file_path)) > 1:
        raise _settings_error(setting, SecretLoadReason.CONFLICTING_SETTINGS, _choose_one(setting))


def _secret_manager_source(
    setting: str, name: str, secret_manager: SecretManagerAccess | None
) -> SecretManagerSource:
    if not _SECRET_VERSION_NAME.fullmatch(name):
        raise _settings_error(
            setting,
            SecretLoadReason.INVALID_SECRET_NAME,
            f"Set {setting}_SECRET to projects/PROJECT/secrets/SECRET/versions/latest "
            "or to a version number in place of latest.",
        )
    if secret_manager is None:
        raise ValueError(f"{setting}_SECRET is set but no SecretManagerAccess was given")
    return SecretManagerSource(setting, name, secret_manager)


def _file_source(setting: str, file_path: Path) -> FileSource:
    if not file_path.is_absolute():
        raise _settings_error(
            setting,
            SecretLoadReason.INVALID_FILE_PATH,
            f"Set {setting}_FILE to the absolute path of the mounted file, "
            "such as /var/run/secrets/nylas/api-key.",
        )
    return FileSource(setting, file_path)


def _plain_value_source(setting: str, value: SecretStr, development: bool) -> PlainValueSource:
    if not development:
        raise _settings_error(
            setting,
            SecretLoadReason.PLAIN_VALUE_REJECTED,
            f"Store the value in Secret Manager and set {setting}_SECRET, or mount it as a "
            f"file and set {setting}_FILE.",
        )
    return PlainValueSource(setting, value)


def _settings_error(setting: str, reason: SecretLoadReason, hint: str) -> SecretLoadError:
    return SecretLoadError(setting=setting, source="the settings", reason=reason, hint=hint)
