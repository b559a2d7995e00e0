"""Start `grant-broker` commands as real processes on loopback ports, for process-level tests."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**settings: str) -> dict[str, str]:
    """Return this process's environment without GRANT_BROKER_ variables, plus `settings`."""
    inherited = {
        key: value for key, value in os.environ.items() if not key.startswith("GRANT_BROKER_")
    }
    return {**inherited, "PYTHONPATH": str(PROJECT_ROOT), **settings}


@dataclass
class RunningCommand:
    """A `grant-broker` command started by `run_command`, with its URL and log file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        """Parse the JSON log lines written so far, skipping lines that are not JSON."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines


@contextmanager
def run_command(
    arguments: list[str], *, port: int, environment: Mapping[str, str], workdir: Path
) -> Iterator[RunningCommand]:
    """Start `grant-broker ARGUMENTS`, wait until `/livez` responds, and stop it on exit."""
    log_path = workdir / f"{arguments[0]}-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 (the test's own command line)
            [sys.executable, "-m", "app.cli", *arguments],
            cwd=workdir,
            env=dict(environment),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        running = RunningCommand(process, f"http://127.0.0.1:{port}", log_path)
        try:
            wait_until_live(running)
            yield running
        finally:
            stop(process)


def wait_until_live(running: RunningCommand, path: str = "/livez") -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            output = running.log_path.read_text()
            raise RuntimeError(f"exited with {running.process.returncode} on startup: {output}")
        try:
            httpx.get(running.base_url + path, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise RuntimeError(f"{running.base_url} did not respond within {STARTUP_TIMEOUT_SECONDS} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
