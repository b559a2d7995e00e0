"""GET, PATCH and DELETE /v3/grants/{grant_id}, and the routes Nylas does not have."""

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import START_TIME, FakeClock

UNKNOWN_ID = "5967ca40-a2d8-4ee0-a0e0-6f18ace39a90"


async def create_grant(nylas: httpx.AsyncClient) -> str:
    response = await nylas.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
    grant_id: str = response.json()["data"]["id"]
    return grant_id


async def test_get_grant_returns_grant(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.get(f"/v3/grants/{grant_id}")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == grant_id
    assert response.json()["data"]["email"] == "a@example.com"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


async def test_get_grant_unknown(nylas: httpx.AsyncClient) -> None:
    response = await nylas.get(f"/v3/grants/{UNKNOWN_ID}")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


async def test_get_grant_after_expiry(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)
    sim.expire_grant(grant_id)

    response = await nylas.get(f"/v3/grants/{grant_id}")

    assert response.json()["data"]["grant_status"] == "invalid"


async def test_update_grant_replaces_settings(
    nylas: httpx.AsyncClient, wall_clock: FakeClock
) -> None:
    grant_id = await create_grant(nylas)
    await nylas.patch(
        f"/v3/grants/{grant_id}",
        json={"settings": {"refresh_token": "rt-new", "credential_id": "cred-1"}},
    )
    wall_clock.advance(30)

    response = await nylas.patch(
        f"/v3/grants/{grant_id}", json={"settings": {"refresh_token": "rt-newer"}}
    )

    assert response.status_code == 200
    assert "settings" not in response.json()["data"]
    assert "credential_id" not in response.json()["data"]
    assert response.json()["data"]["updated_at"] == START_TIME + 30
    assert "rt-newer" not in response.text


async def test_update_grant_sets_credential_id(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.patch(
        f"/v3/grants/{grant_id}",
        json={"settings": {"refresh_token": "rt-new", "credential_id": "cred-1"}},
    )

    assert response.json()["data"]["settings"] == {"credential_id": "cred-1"}
    assert response.json()["data"]["credential_id"] == "cred-1"


async def test_update_grant_replaces_scope(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.patch(f"/v3/grants/{grant_id}", json={"scope": ["openid"]})

    assert response.json()["data"]["scope"] == ["openid"]


async def test_update_grant_keeps_id(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.patch(f"/v3/grants/{grant_id}", json={"scope": ["openid"]})

    assert response.json()["data"]["id"] == grant_id
    assert response.json()["data"]["created_at"] == START_TIME


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"settings": "rt-new"}, "settings"),
        ({"settings": {"refresh_token": 5}}, "settings.refresh_token"),
        ({"scope": "openid"}, "scope"),
        (["rt-new"], "request body"),
    ],
)
async def test_update_grant_invalid_body(
    nylas: httpx.AsyncClient, body: object, field: str
) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.patch(f"/v3/grants/{grant_id}", json=body)

    assert response.status_code == 400
    assert field in response.json()["error"]["message"]
    assert "rt-new" not in response.text


async def test_update_grant_revoked_token(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)
    sim.revoke_credential(provider="google", secret="rt-revoked")

    response = await nylas.patch(
        f"/v3/grants/{grant_id}", json={"settings": {"refresh_token": "rt-revoked"}}
    )

    assert response.status_code == 400
    assert response.json()["error"]["provider_error"] == {"error": "invalid_grant"}


async def test_update_grant_unknown(nylas: httpx.AsyncClient) -> None:
    response = await nylas.patch(f"/v3/grants/{UNKNOWN_ID}", json={"scope": []})

    assert response.status_code == 404


async def test_put_grant_not_allowed(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.put(f"/v3/grants/{grant_id}", json={"settings": {}})

    assert response.status_code == 405
    assert "PATCH" in response.headers["Allow"]
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


async def test_delete_grant_returns_request_id(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.delete(f"/v3/grants/{grant_id}")

    assert response.status_code == 200
    assert response.json() == {"request_id": response.headers["X-Request-Id"]}


async def test_delete_grant_twice(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)
    await nylas.delete(f"/v3/grants/{grant_id}")

    response = await nylas.delete(f"/v3/grants/{grant_id}")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


async def test_get_grant_after_delete(nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)
    await nylas.delete(f"/v3/grants/{grant_id}")

    response = await nylas.get(f"/v3/grants/{grant_id}")

    assert response.status_code == 404


async def test_head_grants_list(nylas: httpx.AsyncClient) -> None:
    response = await nylas.head("/v3/grants")

    assert response.status_code == 200
    assert response.content == b""


async def test_unknown_route_plain_text(nylas: httpx.AsyncClient) -> None:
    response = await nylas.post("/v3/grants/abc/unknown")

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Cannot POST /v3/grants/abc/unknown"
