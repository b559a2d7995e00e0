#!/usr/bin/env python3
"""Project tasks that need nothing but Python 3.11+: `python3 tasks.py dev`, `... test`.

On first use it installs uv into `.tools/` (from PyPI, pinned) when uv is not on PATH, then
lets uv create `.venv` from the committed lock file.
"""

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
UV_VERSION = "0.13.9"


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    bin_dir = TOOLS / ("Scripts" if os.name == "nt" else "bin")
    uv = bin_dir / "uv"
    if not uv.exists():
        print(f"tasks: installing uv {UV_VERSION} into {TOOLS}", flush=True)
        venv.create(TOOLS, with_pip=True)
        _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"uv=={UV_VERSION}"])
    return str(uv)


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603 (fixed commands)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def _sync(uv: str, *options: str) -> None:
    _run([uv, "sync", "--locked", *options])


def _replace_process(command: list[str]) -> None:
    # exec, so that signals such as SIGTERM and Ctrl-C reach the server itself.
    os.chdir(ROOT)
    os.execv(command[0], command)  # noqa: S606 (fixed command)


def dev(extra: list[str]) -> None:
    """Run the service with SQLite and the built-in Nylas simulator (`--port N` and more follow)."""
    uv = _uv()
    _sync(uv, "--no-default-groups")
    _replace_process([uv, "run", "--no-sync", "grant-broker", "dev", *extra])


def lint(extra: list[str]) -> None:
    """Check formatting, lint rules and types."""
    uv = _uv()
    _sync(uv, "--all-groups")
    _run([uv, "run", "--no-sync", "ruff", "format", "--check", "."])
    _run([uv, "run", "--no-sync", "ruff", "check", "."])
    _run([uv, "run", "--no-sync", "mypy"])


def test(extra: list[str]) -> None:
    """Run the lint checks, then the test suite (pytest arguments may follow)."""
    lint([])
    uv = _uv()
    _run([uv, "run", "--no-sync", "pytest", "-n", "2", *extra])


def openapi(extra: list[str]) -> None:
    """Regenerate openapi/openapi.json from the app."""
    uv = _uv()
    _sync(uv, "--all-groups")
    _run([uv, "run", "--no-sync", "python", "-m", "app.core.openapi"])


TASKS = {"dev": dev, "test": test, "lint": lint, "openapi": openapi}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="passed to the task's tool")
    args = parser.parse_args()
    TASKS[args.task](args.arguments)


if __name__ == "__main__":
    main()
