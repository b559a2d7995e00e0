"""The simulator served by uvicorn on a loopback port, as `grant-broker simulator` runs it."""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from app.simulator import NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import API_KEY


@pytest.fixture
def server_url() -> Iterator[tuple[NylasSimulator, str]]:
    """Serve a simulator with uvicorn on 127.0.0.1 and a free port; yield it and its URL."""
    sim = NylasSimulator(api_keys=[API_KEY])
    config = uvicorn.Config(
        sim.app,
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="critical",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 10 seconds")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    yield sim, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def loopback_client(url: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """Return a client that ignores proxy settings, so requests go straight to loopback."""
    return httpx.AsyncClient(base_url=url, headers=headers, trust_env=False)


async def test_served_connect_custom(server_url: tuple[NylasSimulator, str]) -> None:
    sim, url = server_url
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async with loopback_client(url, headers) as client:
        response = await client.post(
            "/v3/connect/custom", json=bodies.google("sim:alice@example.com:1")
        )

    assert response.status_code == 201
    assert list(sim.grants) == [response.json()["data"]["id"]]


async def test_served_control_api(server_url: tuple[NylasSimulator, str]) -> None:
    _, url = server_url

    async with loopback_client(url) as client:
        await client.post("/_simulator/faults", json={"operation": "list_grants", "status": 503})
        faulted = await client.get("/v3/grants")

    assert faulted.status_code == 503


async def test_served_reset_drops_connection(server_url: tuple[NylasSimulator, str]) -> None:
    sim, url = server_url
    sim.inject_fault(operation="list_grants", reset=True)

    # uvicorn cannot reset the socket: it closes it after the status line, mid-response.
    async with loopback_client(url, {"Authorization": f"Bearer {API_KEY}"}) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/v3/grants")


async def test_served_latency_past_read_timeout(server_url: tuple[NylasSimulator, str]) -> None:
    sim, url = server_url
    sim.inject_fault(operation="list_grants", latency=1.0)

    async with loopback_client(url, {"Authorization": f"Bearer {API_KEY}"}) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/v3/grants", timeout=httpx.Timeout(5.0, read=0.2))
