"""File and plain-value sources: reading, changes, Kubernetes symlink swaps and failures."""

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.secrets import FileSource, PlainValueSource, SecretLoadError, SecretLoadReason
from tests.secrets.conftest import CANARY_A, CANARY_B, SETTING


def _write(path: Path, content: str | bytes, *, mtime_ns: int) -> None:
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    # Explicit times, so two writes within the file system's timestamp resolution still differ.
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _kubernetes_volume(root: Path, value: str, *, generation: str, mtime_ns: int) -> Path:
    """Lay out a Secret volume as the kubelet does and return the path the app reads.

    The kubelet writes each generation into a new `..<timestamp>` directory, then renames a
    fresh `..data` symlink over the old one. `api-key` is a symlink through `..data`.
    """
    generation_dir = root / f"..{generation}"
    generation_dir.mkdir()
    _write(generation_dir / "api-key", value, mtime_ns=mtime_ns)
    staged = root / "..data_tmp"
    staged.symlink_to(generation_dir.name)
    os.replace(staged, root / "..data")
    key = root / "api-key"
    if not key.is_symlink():
        key.symlink_to("..data/api-key")
    return key


async def _file_error(path: Path) -> SecretLoadError:
    with pytest.raises(SecretLoadError) as caught:
        await FileSource(SETTING, path).fetch()
    return caught.value


async def test_file_value_and_version(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    _write(path, CANARY_A + "\n", mtime_ns=1_700_000_000_000_000_001)

    fetched = await FileSource(SETTING, path).fetch()

    assert fetched.value.get_secret_value() == CANARY_A
    assert fetched.version == "file:1700000000000000001"


async def test_file_change_new_version(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    source = FileSource(SETTING, path)
    _write(path, CANARY_A, mtime_ns=1_700_000_000_000_000_000)
    first = await source.fetch()

    _write(path, CANARY_B, mtime_ns=1_700_000_060_000_000_000)
    second = await source.fetch()

    assert second.value.get_secret_value() == CANARY_B
    assert second.version != first.version


async def test_file_symlink_swap(tmp_path: Path) -> None:
    path = _kubernetes_volume(tmp_path, CANARY_A, generation="2025_01_01", mtime_ns=10**18)
    source = FileSource(SETTING, path)
    first = await source.fetch()

    _kubernetes_volume(tmp_path, CANARY_B, generation="2025_02_01", mtime_ns=2 * 10**18)
    second = await source.fetch()

    assert first.value.get_secret_value() == CANARY_A
    assert second.value.get_secret_value() == CANARY_B
    assert second.version == f"file:{2 * 10**18}"


async def test_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent"

    error = await _file_error(path)

    assert error.reason is SecretLoadReason.NOT_FOUND
    assert str(error).startswith(f"{SETTING} could not be loaded from file {path}: not found")


async def test_file_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.symlink_to(tmp_path / "..data" / "api-key")

    error = await _file_error(path)

    assert error.reason is SecretLoadReason.NOT_FOUND


@pytest.mark.parametrize("content", ["", " \n"])
async def test_file_empty(tmp_path: Path, content: str) -> None:
    path = tmp_path / "api-key"
    path.write_text(content)

    error = await _file_error(path)

    assert error.reason is SecretLoadReason.EMPTY_FILE
    assert "empty file" in str(error)


async def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_bytes(b"\xff\xfe\xfd")

    error = await _file_error(path)

    assert error.reason is SecretLoadReason.NOT_UTF8


async def test_file_is_directory(tmp_path: Path) -> None:
    error = await _file_error(tmp_path)

    assert error.reason is SecretLoadReason.IS_A_DIRECTORY


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
async def test_file_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "api-key"
    path.write_text(CANARY_A)
    path.chmod(0)

    error = await _file_error(path)

    assert error.reason is SecretLoadReason.PERMISSION_DENIED


async def test_plain_value_version_env() -> None:
    fetched = await PlainValueSource(SETTING, SecretStr(CANARY_A)).fetch()

    assert fetched.value.get_secret_value() == CANARY_A
    assert fetched.version == "env"


async def test_plain_value_empty() -> None:
    with pytest.raises(SecretLoadError) as caught:
        await PlainValueSource(SETTING, SecretStr(" ")).fetch()

    assert caught.value.reason is SecretLoadReason.EMPTY_VALUE
    assert f"environment variable {SETTING}" in str(caught.value)
