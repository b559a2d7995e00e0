"""The grant event feed: every change, in order, readable with a consumer's own cursor."""

import httpx

from app.simulator import NylasSimulator
from tests.api.test_register import google


async def _events(client: httpx.AsyncClient, **params: str | int) -> dict[str, object]:
    response = await client.get("/v1/events", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_registration_lifecycle_events(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    first = (await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))).json()
    await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:2"))
    second = (await client.post("/v1/grants", json=google("u-1", "sim:b@example.com:1"))).json()
    await client.delete("/v1/users/u-1/grant")

    items = (await _events(client))["items"]

    assert isinstance(items, list)
    assert [item["type"] for item in items] == [
        "grant.registered",
        "grant.reauthenticated",
        "grant.replaced",
        "grant.deleted",
    ]
    assert items[2]["previous_grant_id"] == first["grant_id"]
    assert items[2]["grant_id"] == second["grant_id"]
    assert items[3]["source"] == "offboarding"
    assert items[0]["new_status"] == "valid"
    assert items[0]["old_status"] is None
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)


async def test_cursor_walk_sees_each_event_once(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await client.post("/v1/grants", json=google(f"u-{index}", f"sim:e{index}@example.com:1"))

    seen: list[int] = []
    cursor = "0"
    while True:
        page = await _events(client, after=cursor, limit=2)
        items = page["items"]
        assert isinstance(items, list)
        if not items:
            break
        seen += [item["id"] for item in items]
        cursor = str(page["next_cursor"])

    assert len(seen) == 5
    assert len(set(seen)) == 5
    assert (await _events(client, after=cursor))["next_cursor"] == cursor


async def test_filter_by_type(client: httpx.AsyncClient) -> None:
    await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))
    await client.delete("/v1/users/u-1/grant")

    items = (await _events(client, type="grant.deleted"))["items"]

    assert isinstance(items, list)
    assert [item["type"] for item in items] == ["grant.deleted"]


async def test_invalid_cursor_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events", params={"after": "abc"})

    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "query.after"


async def test_unknown_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events", params={"type": "grant.exploded"})

    assert response.status_code == 422
