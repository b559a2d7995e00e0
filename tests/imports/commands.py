"""Helpers for running the `import` and `reconcile` commands in child processes: their
environment, a simulator served on loopback for them, and the process itself
(`tests.imports.command_process`)."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_SECONDS = 120


def command_environment(database_url: str, nylas_url: str, **settings: str) -> dict[str, str]:
    """This process's environment without GRANT_BROKER_ or proxy variables, plus settings
    for a development broker on `database_url` that calls Nylas at `nylas_url`."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GRANT_BROKER_") and "proxy" not in name.lower()
    }
    configured = {f"GRANT_BROKER_{name.upper()}": value for name, value in settings.items()}
    return {
        **inherited,
        "PYTHONPATH": str(PROJECT_ROOT),
        "GRANT_BROKER_ENV": "development",
        "GRANT_BROKER_DATABASE_URL": database_url,
        "GRANT_BROKER_NYLAS_API_URL": nylas_url,
        "GRANT_BROKER_NYLAS_API_KEY": TEST_API_KEY,
        "GRANT_BROKER_LOG_JSON": "true",
        **configured,
    }


def start_command(
    arguments: Sequence[str], environment: Mapping[str, str], *, cwd: Path
) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (the test's own command line)
        [sys.executable, "-m", "tests.imports.command_process", *arguments],
        cwd=cwd,
        env=dict(environment),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_command(
    arguments: Sequence[str], environment: Mapping[str, str], *, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the test's own command line)
        [sys.executable, "-m", "tests.imports.command_process", *arguments],
        cwd=cwd,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


@dataclass(frozen=True)
class ServedSimulator:
    simulator: NylasSimulator
    url: str


@contextmanager
def serve_simulator() -> Iterator[ServedSimulator]:
    """Serve a simulator with uvicorn on 127.0.0.1 and a free port, for child processes."""
    simulator = NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=10_000)
    # A short graceful shutdown: a test may leave a request waiting on an injected latency.
    config = uvicorn.Config(
        simulator.app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="critical",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 seconds")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield ServedSimulator(simulator, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
