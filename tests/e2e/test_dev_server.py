"""`grant-broker dev` as a real process: register, look up, list and delete over HTTP."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CANARY = "canary-dev-3b7d-DO-NOT-STORE"
# The Nylas API key the dev server and its simulator use, as another command would set it.
DEV_API_KEY = "dev-key-canary-91c2"
STARTUP_TIMEOUT_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_live(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"grant-broker dev exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/livez", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("grant-broker dev did not become live in time")


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """Start `grant-broker dev` on a free port; yield its URL, database file and log file."""
    workdir = tmp_path_factory.mktemp("dev")
    log_path = workdir / "server.log"
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRANT_BROKER_")}
    command = [sys.executable, "-m", "app.cli", "dev", "--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 (fixed command)
            command,
            cwd=workdir,
            env={
                **env,
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                "GRANT_BROKER_NYLAS_API_KEY": DEV_API_KEY,
            },
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_live(base_url, process)
            yield base_url, workdir / "grant-broker-dev.db", log_path
        finally:
            process.terminate()
            process.wait(timeout=15)


def _registrations() -> list[dict[str, Any]]:
    return [
        {
            "user_id": "dev-google",
            "provider": "google",
            "settings": {"refresh_token": f"sim:g.user@example.com:{CANARY}"},
        },
        {
            "user_id": "dev-microsoft",
            "provider": "microsoft",
            "settings": {"refresh_token": f"{CANARY}-ms"},
        },
        {
            "user_id": "dev-imap",
            "provider": "imap",
            "settings": {
                "imap_username": "dev.imap@example.net",
                "imap_password": f"{CANARY}-imap",
                "imap_host": "imap.example.net",
                "imap_port": 993,
            },
        },
    ]


def test_dev_server_full_flow(dev_server: tuple[str, Path, Path]) -> None:
    base_url, database_path, log_path = dev_server
    with httpx.Client(base_url=base_url, timeout=10) as client:
        grants = {}
        for body in _registrations():
            response = client.post("/v1/grants", json=body)
            assert response.status_code == 201, response.text
            grants[body["user_id"]] = response.json()

        for user_id, grant in grants.items():
            assert client.get(f"/v1/users/{user_id}/grant").json() == grant
            assert client.get(f"/v1/grants/{grant['grant_id']}").json()["user_id"] == user_id

        listed = client.get("/v1/grants").json()["items"]
        assert {item["user_id"] for item in listed} == set(grants)

        for user_id in grants:
            assert client.delete(f"/v1/users/{user_id}/grant").status_code == 204
            assert client.get(f"/v1/users/{user_id}/grant").status_code == 404

        docs = client.get("/docs")
        assert docs.status_code == 200

    stored = b"".join(
        path.read_bytes()
        for path in (database_path, database_path.with_name(database_path.name + "-wal"))
        if path.exists()
    )
    assert stored, "the dev database file is missing, so the canary check proves nothing"
    assert CANARY.encode() not in stored
    log_text = log_path.read_text()
    assert "grant.registered" in log_text
    assert CANARY not in log_text


def test_dev_simulator_accepts_set_key(dev_server: tuple[str, Path, Path]) -> None:
    base_url, _, log_path = dev_server
    grants_url = f"{base_url}/nylas-simulator/v3/grants"

    accepted = httpx.get(grants_url, headers={"Authorization": f"Bearer {DEV_API_KEY}"})
    rejected = httpx.get(grants_url, headers={"Authorization": "Bearer another-key"})

    assert accepted.status_code == 200
    assert rejected.status_code == 401
    assert DEV_API_KEY not in log_path.read_text()
