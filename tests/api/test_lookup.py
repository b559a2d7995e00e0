"""Lookups, listing and offboarding."""

import httpx

from app.simulator import NylasSimulator
from tests.api.test_register import google, imap


async def test_lookup_by_user_and_by_grant_id(client: httpx.AsyncClient) -> None:
    registered = (await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"))).json()

    by_user = await client.get("/v1/users/u-1/grant")
    by_grant = await client.get(f"/v1/grants/{registered['grant_id']}")

    assert by_user.status_code == 200
    assert by_user.json() == registered
    assert by_grant.status_code == 200
    assert by_grant.json() == registered


async def test_lookup_unknown_user_is_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/nobody/grant")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/grant-not-found")
    assert response.json()["instance"] == "/v1/users/nobody/grant"


async def test_lookup_unknown_grant_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/grants/no-such-grant")

    assert response.status_code == 404


async def test_lookup_invalid_user_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/bad%20id/grant")

    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "path.user_id"


async def test_list_pages_with_cursor(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await client.post("/v1/grants", json=google(f"u-{index}", f"sim:l{index}@example.com:1"))

    first = (await client.get("/v1/grants", params={"limit": 2})).json()
    second = (
        await client.get("/v1/grants", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    third = (
        await client.get("/v1/grants", params={"limit": 2, "cursor": second["next_cursor"]})
    ).json()

    users = [item["user_id"] for page in (first, second, third) for item in page["items"]]
    assert users == ["u-0", "u-1", "u-2", "u-3", "u-4"]
    assert third["next_cursor"] is None


async def test_list_filters_by_provider_and_status(client: httpx.AsyncClient) -> None:
    await client.post("/v1/grants", json=google("u-g", "sim:g@example.com:1"))
    await client.post("/v1/grants", json=imap("u-i", "i@example.net", "pw"))

    by_provider = (await client.get("/v1/grants", params={"provider": "imap"})).json()
    by_status = (await client.get("/v1/grants", params={"grant_status": "invalid"})).json()

    assert [item["user_id"] for item in by_provider["items"]] == ["u-i"]
    assert by_status["items"] == []


async def test_list_rejects_garbage_cursor(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/grants", params={"cursor": "not-a-cursor!"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_list_rejects_unknown_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/grants", params={"grant_status": "expired"})

    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "query.grant_status"


async def test_delete_removes_grant_at_nylas_and_record(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = (await client.post("/v1/grants", json=google("u-1", "sim:d@example.com:1"))).json()[
        "grant_id"
    ]

    response = await client.delete("/v1/users/u-1/grant")

    assert response.status_code == 204
    assert grant_id not in simulator.grants
    assert (await client.get("/v1/users/u-1/grant")).status_code == 404


async def test_delete_already_gone_at_nylas_counts_as_done(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = (await client.post("/v1/grants", json=google("u-1", "sim:d@example.com:1"))).json()[
        "grant_id"
    ]
    simulator.delete_grant(grant_id)

    response = await client.delete("/v1/users/u-1/grant")

    assert response.status_code == 204
    assert (await client.get("/v1/users/u-1/grant")).status_code == 404


async def test_delete_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/users/nobody/grant")

    assert response.status_code == 404


async def test_delete_nylas_failure_keeps_record(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await client.post("/v1/grants", json=google("u-1", "sim:d@example.com:1"))
    simulator.inject_fault(operation="delete_grant", status=500, times=None)

    response = await client.delete("/v1/users/u-1/grant")

    assert response.status_code == 502
    assert (await client.get("/v1/users/u-1/grant")).status_code == 200


async def test_re_register_after_delete_gets_new_grant(client: httpx.AsyncClient) -> None:
    first = (await client.post("/v1/grants", json=google("u-1", "sim:r@example.com:1"))).json()
    await client.delete("/v1/users/u-1/grant")

    second = await client.post("/v1/grants", json=google("u-1", "sim:r@example.com:1"))

    assert second.status_code == 201
    assert second.json()["grant_id"] != first["grant_id"]
