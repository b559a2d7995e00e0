"""GET /v1/users/{user_id}/grant/status: the stored status when fresh, else Nylas's."""

import asyncio

import httpx

from app.simulator import NylasSimulator
from tests.api.test_register import google


async def _register(client: httpx.AsyncClient, user_id: str = "u-1") -> str:
    response = await client.post("/v1/grants", json=google(user_id, f"sim:{user_id}@example.com:1"))
    grant_id: str = response.json()["grant_id"]
    return grant_id


async def test_fresh_record_answers_without_nylas(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register(client)
    simulator.expire_grant(grant_id)

    response = await client.get("/v1/users/u-1/grant/status", params={"max_age": 300})

    assert response.status_code == 200
    assert response.json()["grant_status"] == "valid"
    assert simulator.call_count("get_grant") == 0


async def test_max_age_zero_asks_nylas_and_flips(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register(client)
    simulator.expire_grant(grant_id)

    response = await client.get("/v1/users/u-1/grant/status", params={"max_age": 0})

    assert response.status_code == 200
    assert response.json()["grant_status"] == "invalid"
    assert response.json()["status_source"] == "live_check"
    assert simulator.call_count("get_grant") == 1
    stored = await client.get("/v1/users/u-1/grant")
    assert stored.json()["grant_status"] == "invalid"
    events = (await client.get("/v1/events", params={"type": "grant.invalidated"})).json()
    assert [item["source"] for item in events["items"]] == ["live_check"]


async def test_deleted_at_nylas_removes_record(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register(client)
    simulator.delete_grant(grant_id)

    response = await client.get("/v1/users/u-1/grant/status", params={"max_age": 0})

    assert response.status_code == 404
    assert "register again" in response.json()["detail"]
    assert (await client.get("/v1/users/u-1/grant")).status_code == 404
    events = (await client.get("/v1/events", params={"type": "grant.deleted"})).json()
    assert [item["source"] for item in events["items"]] == ["live_check"]


async def test_concurrent_checks_share_one_call(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await _register(client)
    simulator.inject_fault(operation="get_grant", latency=0.3, times=1)

    responses = await asyncio.gather(
        *(client.get("/v1/users/u-1/grant/status", params={"max_age": 0}) for _ in range(5))
    )

    assert [r.status_code for r in responses] == [200] * 5
    assert simulator.call_count("get_grant") == 1


async def test_nylas_outage_is_problem(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await _register(client)
    simulator.inject_fault(operation="get_grant", status=503, body="{}", times=None)

    response = await client.get("/v1/users/u-1/grant/status", params={"max_age": 0})

    assert response.status_code == 503
    assert (await client.get("/v1/users/u-1/grant")).json()["grant_status"] == "valid"


async def test_revalidation_after_reauthentication(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register(client)
    simulator.expire_grant(grant_id)
    await client.get("/v1/users/u-1/grant/status", params={"max_age": 0})
    # The user re-authenticated somewhere else: Nylas has the grant valid again.
    await client.post("/v1/grants", json=google("u-other", "sim:u-1@example.com:2"))

    response = await client.get("/v1/users/u-1/grant/status", params={"max_age": 0})

    assert response.json()["grant_status"] == "valid"


async def test_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/nobody/grant/status")

    assert response.status_code == 404
