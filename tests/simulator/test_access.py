"""API key checks, key rotation and the per-application rate limits."""

import httpx
import pytest

from app.simulator import DEFAULT_API_KEY, NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import API_KEY, BASE_URL, FakeClock


def client_with_key(sim: NylasSimulator, api_key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key is not None else {}
    return httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL, headers=headers)


async def status_with_key(sim: NylasSimulator, api_key: str | None) -> int:
    async with client_with_key(sim, api_key) as client:
        return (await client.get("/v3/grants")).status_code


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer key-b"},
        {"Authorization": API_KEY},
        {"Authorization": "Basic key-a"},
    ],
)
async def test_request_without_accepted_key(sim: NylasSimulator, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL) as client:
        response = await client.get("/v3/grants", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"
    assert "provider_error" not in response.json()["error"]
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


async def test_unauthorized_response_hides_key(sim: NylasSimulator) -> None:
    async with client_with_key(sim, "key-b-secret-value") as client:
        response = await client.post("/v3/connect/custom", json=bodies.google("rt"))

    assert response.status_code == 401
    assert "key-b-secret-value" not in response.text


async def test_unauthorized_connect_creates_nothing(sim: NylasSimulator) -> None:
    async with client_with_key(sim, "key-b") as client:
        await client.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))

    assert sim.grants == {}


async def test_key_rotation(sim: NylasSimulator) -> None:
    sim.accept_api_keys([API_KEY, "key-b"])
    both = (await status_with_key(sim, API_KEY), await status_with_key(sim, "key-b"))
    sim.accept_api_keys(["key-b"])
    only_b = (await status_with_key(sim, API_KEY), await status_with_key(sim, "key-b"))

    assert both == (200, 200)
    assert only_b == (401, 200)


async def test_default_api_key() -> None:
    sim = NylasSimulator()

    assert await status_with_key(sim, DEFAULT_API_KEY) == 200


async def test_reset_restores_initial_keys(sim: NylasSimulator) -> None:
    sim.accept_api_keys(["key-b"])

    sim.reset()

    assert await status_with_key(sim, API_KEY) == 200
    assert await status_with_key(sim, "key-b") == 401


def test_simulator_repr_hides_keys() -> None:
    sim = NylasSimulator(api_keys=["key-in-repr-check"])

    assert "key-in-repr-check" not in repr(sim)
    assert "key-in-repr-check" not in repr(vars(sim))


@pytest.fixture
def limited(monotonic_clock: FakeClock) -> NylasSimulator:
    return NylasSimulator(
        api_keys=[API_KEY], rate_limit_per_second=3, monotonic_clock=monotonic_clock
    )


async def test_rate_limit_grants_api(limited: NylasSimulator) -> None:
    async with client_with_key(limited, API_KEY) as client:
        statuses = [(await client.get("/v3/grants")).status_code for _ in range(4)]
        rejected = await client.get("/v3/grants")

    assert statuses == [200, 200, 200, 429]
    error = rejected.json()["error"]
    assert error["type"] == "nylas_rate_limit_exceeded"
    assert "provider_error" not in error
    assert rejected.json()["request_id"] == rejected.headers["X-Request-Id"]


async def test_rate_limit_window_slides(
    limited: NylasSimulator, monotonic_clock: FakeClock
) -> None:
    async with client_with_key(limited, API_KEY) as client:
        await client.get("/v3/grants")
        monotonic_clock.advance(0.5)
        await client.get("/v3/grants")
        await client.get("/v3/grants")
        monotonic_clock.advance(0.4)
        still_full = await client.get("/v3/grants")
        monotonic_clock.advance(0.1)
        after_first_expires = await client.get("/v3/grants")
        right_after = await client.get("/v3/grants")

    assert still_full.status_code == 429
    assert after_first_expires.status_code == 200
    assert right_after.status_code == 429


async def test_rate_limit_counts_every_grants_route(limited: NylasSimulator) -> None:
    async with client_with_key(limited, API_KEY) as client:
        await client.get("/v3/grants")
        await client.get("/v3/grants/unknown-id")
        await client.delete("/v3/grants/unknown-id")
        response = await client.patch("/v3/grants/unknown-id", json={})

    assert response.status_code == 429


async def test_rate_limit_groups_are_separate(limited: NylasSimulator) -> None:
    async with client_with_key(limited, API_KEY) as client:
        for _ in range(3):
            await client.get("/v3/grants")
        connect = await client.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
        listing = await client.get("/v3/grants")

    assert connect.status_code == 201
    assert listing.status_code == 429


async def test_rate_limit_authentication_api(limited: NylasSimulator) -> None:
    async with client_with_key(limited, API_KEY) as client:
        for _ in range(3):
            await client.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
        rejected = await client.post(
            "/v3/connect/custom", json=bodies.google("sim:b@example.com:1")
        )
        listing = await client.get("/v3/grants")

    assert rejected.status_code == 429
    assert listing.status_code == 200
    assert len(limited.grants) == 1


async def test_rate_limit_default_is_50(sim: NylasSimulator) -> None:
    async with client_with_key(sim, API_KEY) as client:
        statuses = [(await client.get("/v3/grants")).status_code for _ in range(51)]

    assert statuses.count(200) == 50
    assert statuses[-1] == 429


async def test_unauthorized_requests_not_rate_limited(limited: NylasSimulator) -> None:
    for _ in range(5):
        await status_with_key(limited, "key-b")

    assert await status_with_key(limited, API_KEY) == 200


def test_rate_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        NylasSimulator(rate_limit_per_second=0)
