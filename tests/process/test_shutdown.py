"""SIGTERM on `grant-broker serve`: in-flight requests finish, new connections are refused."""

import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.process.servers import RunningCommand, free_port, run_command

NYLAS_LATENCY_SECONDS = 3.0
GRACEFUL_SHUTDOWN_SECONDS = 20


def _register(base_url: str, user_id: str) -> httpx.Response:
    body = {
        "user_id": user_id,
        "provider": "google",
        "settings": {"refresh_token": f"sim:{user_id}@example.com:1"},
    }
    return httpx.post(f"{base_url}/v1/grants", json=body, timeout=30)


def _slow_down_connect_custom(simulator: RunningCommand) -> None:
    fault = {"operation": "connect_custom", "latency": NYLAS_LATENCY_SECONDS}
    response = httpx.post(f"{simulator.base_url}/_simulator/faults", json=fault, timeout=5)
    response.raise_for_status()


def _wait_for_nylas_call(simulator: RunningCommand, operation: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = httpx.get(f"{simulator.base_url}/_simulator/calls", timeout=5).json()["counts"]
        if counts[operation] > 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"the simulator never received {operation}")


def _refuses_connections(base_url: str) -> bool:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/livez", timeout=1)
        except httpx.ConnectError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.usefixtures("clear_faults")
def test_sigterm_drains_request(
    simulator: RunningCommand, broker_environment: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    arguments += ["--graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS)]
    _slow_down_connect_custom(simulator)

    with (
        run_command(
            arguments, port=port, environment=broker_environment, workdir=tmp_path
        ) as broker,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        registration: Future[httpx.Response] = pool.submit(_register, broker.base_url, "u-drain")
        _wait_for_nylas_call(simulator, "connect_custom")
        broker.process.send_signal(signal.SIGTERM)
        refused_while_draining = _refuses_connections(broker.base_url)
        still_in_flight = not registration.done()
        response = registration.result(timeout=GRACEFUL_SHUTDOWN_SECONDS)
        exit_code = broker.process.wait(timeout=GRACEFUL_SHUTDOWN_SECONDS)

    assert refused_while_draining, "new connections were still accepted after SIGTERM"
    assert still_in_flight, "the registration finished before SIGTERM, so nothing was drained"
    assert response.status_code == 201, response.text
    assert response.json()["user_id"] == "u-drain"
    assert exit_code == 0
    events = [line.get("event") for line in broker.log_lines()]
    assert "app.stopped" in events
