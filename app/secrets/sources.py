"""Sources of a secret setting's value: Secret Manager, a file, or a plain value."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from app.secrets.errors import SecretAccessError, SecretLoadError, SecretLoadReason
from app.secrets.secret_manager import SecretManagerAccess


@dataclass(frozen=True)
class SecretVersion:
    """One value of a secret and the name of the version it came from.

    `version` is the Secret Manager version name (`projects/p/secrets/s/versions/7`),
    `file:<mtime in ns>` for a file, or `env` for a plain value. It never depends on the value,
    so it is safe to log and to show on `/readyz`.
    """

    value: SecretStr
    version: str


class SecretSource(Protocol):
    """Something that can read the current value of one secret setting."""

    # Origin of the value for logs and messages, such as `file /run/secrets/key`, never the value.
    description: str

    async def fetch(self) -> SecretVersion:
        """Read the current value. Raises `SecretLoadError`."""
        ...


class PlainValueSource:
    """A value given directly in the environment, allowed only in development."""

    def __init__(self, setting: str, value: SecretStr) -> None:
        self._setting = setting
        self._value = value
        self.description = f"environment variable {setting}"

    async def fetch(self) -> SecretVersion:
        if not self._value.get_secret_value().strip():
            raise SecretLoadError(
                setting=self._setting, source=self.description, reason=SecretLoadReason.EMPTY_VALUE
            )
        return SecretVersion(SecretStr(self._value.get_secret_value().strip()), "env")

    def __repr__(self) -> str:
        return f"PlainValueSource(setting={self._setting!r})"


class FileSource:
    """A file, typically a Kubernetes Secret volume, read again on every fetch.

    Kubernetes updates a Secret volume by pointing the `..data` symlink at a new directory, so
    the path is opened through its symlinks and the version is the mtime of the file reached.
    """

    def __init__(self, setting: str, path: Path) -> None:
        self._setting = setting
        self._path = path
        self.description = f"file {path}"

    async def fetch(self) -> SecretVersion:
        try:
            mtime_ns, data = await asyncio.to_thread(_read_file, self._path)
        except OSError as exc:
            raise self._error(_file_error_reason(exc), type(exc).__name__) from None

        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise self._error(SecretLoadReason.NOT_UTF8) from None
        if not text:
            raise self._error(SecretLoadReason.EMPTY_FILE)
        return SecretVersion(SecretStr(text), f"file:{mtime_ns}")

    def _error(self, reason: SecretLoadReason, detail: str | None = None) -> SecretLoadError:
        return SecretLoadError(
            setting=self._setting, source=self.description, reason=reason, detail=detail
        )

    def __repr__(self) -> str:
        return f"FileSource(setting={self._setting!r}, path={str(self._path)!r})"


def _read_file(path: Path) -> tuple[int, bytes]:
    # fstat on the open file, so the mtime belongs to the same file as the bytes even when the
    # symlink moves between the two calls.
    with path.open("rb") as file:
        mtime_ns = os.fstat(file.fileno()).st_mtime_ns
        return mtime_ns, file.read()


def _file_error_reason(exc: OSError) -> SecretLoadReason:
    if isinstance(exc, FileNotFoundError):
        return SecretLoadReason.NOT_FOUND
    if isinstance(exc, PermissionError):
        return SecretLoadReason.PERMISSION_DENIED
    if isinstance(exc, IsADirectoryError):
        return SecretLoadReason.IS_A_DIRECTORY
    return SecretLoadReason.UNREADABLE


class SecretManagerSource:
    """A Secret Manager version name, usually ending in `/versions/latest`."""

    def __init__(self, setting: str, name: str, access: SecretManagerAccess) -> None:
        self._setting = setting
        self._name = name
        self._access = access
        self.description = f"Secret Manager {name}"

    async def fetch(self) -> SecretVersion:
        try:
            value, version = await self._access.access(self._name)
        except SecretAccessError as exc:
            raise SecretLoadError(
                setting=self._setting,
                source=self.description,
                reason=exc.reason,
                detail=exc.detail,
            ) from exc
        return SecretVersion(value, version)

    def __repr__(self) -> str:
        return f"SecretManagerSource(setting={self._setting!r}, name={self._name!r})"
