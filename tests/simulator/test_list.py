"""GET /v3/grants: offset paging, filters, ordering, and silently ignored parameters."""

from typing import Any

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import START_TIME, FakeClock


async def create_grants(
    nylas: httpx.AsyncClient, wall_clock: FakeClock, count: int, provider: str = "google"
) -> list[str]:
    """Create `count` grants, one per minute, and return their ids oldest first."""
    grant_ids = []
    for index in range(count):
        body = bodies.oauth(provider, f"sim:{provider}{index}@example.com:1")
        response = await nylas.post("/v3/connect/custom", json=body)
        grant_ids.append(response.json()["data"]["id"])
        wall_clock.advance(60)
    return grant_ids


async def listed_ids(nylas: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await nylas.get("/v3/grants", params=params)
    assert response.status_code == 200, response.text
    return [grant["id"] for grant in response.json()["data"]]


async def test_list_default_page(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 12)

    response = await nylas.get("/v3/grants")

    body = response.json()
    assert body["limit"] == 10
    assert body["offset"] == 0
    assert [grant["id"] for grant in body["data"]] == grant_ids[::-1][:10]
    assert body["request_id"] == response.headers["X-Request-Id"]


async def test_list_offset_paging(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 5)

    first = await listed_ids(nylas, limit=2, offset=0, order_by="asc")
    second = await listed_ids(nylas, limit=2, offset=2, order_by="asc")
    last = await listed_ids(nylas, limit=2, offset=4, order_by="asc")

    assert first + second + last == grant_ids
    assert len(last) == 1


async def test_list_offset_past_end(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    await create_grants(nylas, wall_clock, 2)

    assert await listed_ids(nylas, offset=5) == []


async def test_list_limit_200_accepted(nylas: httpx.AsyncClient) -> None:
    response = await nylas.get("/v3/grants", params={"limit": 200})

    assert response.status_code == 200
    assert response.json()["limit"] == 200


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"since": "yesterday"}, "since"),
        ({"before": "1.5"}, "before"),
        ({"grant_status": "expired"}, "grant_status"),
        ({"sort_by": "email"}, "sort_by"),
        ({"order_by": "up"}, "order_by"),
    ],
)
async def test_list_invalid_parameter(
    nylas: httpx.AsyncClient, params: dict[str, Any], name: str
) -> None:
    response = await nylas.get("/v3/grants", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert name in response.json()["error"]["message"]


async def test_list_camelcase_ignored(
    nylas: httpx.AsyncClient, sim: NylasSimulator, wall_clock: FakeClock
) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 3)
    sim.expire_grant(grant_ids[0])

    listed = await listed_ids(nylas, grantStatus="invalid", sortBy="updated_at", limit=200)

    assert listed == grant_ids[::-1]


async def test_list_unknown_parameter_ignored(
    nylas: httpx.AsyncClient, wall_clock: FakeClock
) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 2)

    assert await listed_ids(nylas, page_token="abc", select="id") == grant_ids[::-1]


async def test_list_filter_grant_status(
    nylas: httpx.AsyncClient, sim: NylasSimulator, wall_clock: FakeClock
) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 3)
    sim.expire_grant(grant_ids[1])

    assert await listed_ids(nylas, grant_status="invalid") == [grant_ids[1]]
    assert await listed_ids(nylas, grant_status="valid") == [grant_ids[2], grant_ids[0]]


async def test_list_filter_provider(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    google_ids = await create_grants(nylas, wall_clock, 2, provider="google")
    microsoft_ids = await create_grants(nylas, wall_clock, 1, provider="microsoft")

    assert await listed_ids(nylas, provider="microsoft") == microsoft_ids
    assert await listed_ids(nylas, provider="google") == google_ids[::-1]


async def test_list_filter_email_case_insensitive(
    nylas: httpx.AsyncClient, wall_clock: FakeClock
) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 3)

    assert await listed_ids(nylas, email="GOOGLE1@example.com") == [grant_ids[1]]


async def test_list_filter_created_bounds(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 4)

    listed = await listed_ids(nylas, since=START_TIME + 60, before=START_TIME + 120)

    assert listed == [grant_ids[2], grant_ids[1]]


async def test_list_filter_ip(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 2)

    assert await listed_ids(nylas, ip="127.0.0.1") == grant_ids[::-1]
    assert await listed_ids(nylas, ip="10.0.0.1") == []


@pytest.mark.parametrize("name", ["account_id", "workspace_id", "account_ids"])
async def test_list_filter_v2_ids_match_nothing(
    nylas: httpx.AsyncClient, wall_clock: FakeClock, name: str
) -> None:
    await create_grants(nylas, wall_clock, 2)

    assert await listed_ids(nylas, **{name: "acct-1"}) == []


async def test_list_sort_by_updated_at(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 3)
    await nylas.patch(f"/v3/grants/{grant_ids[0]}", json={"scope": ["openid"]})

    by_updated = await listed_ids(nylas, sort_by="updated_at")
    by_created = await listed_ids(nylas, sort_by="created_at")

    assert by_updated == [grant_ids[0], grant_ids[2], grant_ids[1]]
    assert by_created == grant_ids[::-1]


async def test_list_order_ascending(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 3)

    assert await listed_ids(nylas, order_by="asc") == grant_ids


async def test_list_ties_keep_creation_order(nylas: httpx.AsyncClient) -> None:
    first = await nylas.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
    second = await nylas.post("/v3/connect/custom", json=bodies.google("sim:b@example.com:1"))

    listed = await listed_ids(nylas, order_by="asc")

    assert listed == [first.json()["data"]["id"], second.json()["data"]["id"]]


async def test_list_omits_deleted(nylas: httpx.AsyncClient, wall_clock: FakeClock) -> None:
    grant_ids = await create_grants(nylas, wall_clock, 2)
    await nylas.delete(f"/v3/grants/{grant_ids[0]}")

    assert await listed_ids(nylas) == [grant_ids[1]]
