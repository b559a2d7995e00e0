"""Registration: POST /v1/grants against the simulator, on SQLite and PostgreSQL."""

from typing import Any

import httpx

from app.simulator import NylasSimulator

GOOGLE_SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
]


def google(user_id: str, token: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "provider": "google", "settings": {"refresh_token": token}, **extra}


def imap(user_id: str, username: str, password: str) -> dict[str, Any]:
    settings = {
        "imap_username": username,
        "imap_password": password,
        "imap_host": "imap.example.net",
    }
    return {"user_id": user_id, "provider": "imap", "settings": settings}


async def test_register_new_grant_returns_201(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/grants", json=google("u-1", "sim:alice@example.com:1"))

    assert response.status_code == 201
    body = response.json()
    assert body["user_id"] == "u-1"
    assert body["provider"] == "google"
    assert body["email"] == "alice@example.com"
    assert body["grant_status"] == "valid"
    assert set(GOOGLE_SCOPES) <= set(body["scopes"])
    assert response.headers["location"] == "/v1/users/u-1/grant"
    assert set(body) == {
        "user_id",
        "grant_id",
        "provider",
        "email",
        "scopes",
        "grant_status",
        "status_source",
        "status_checked_at",
        "status_changed_at",
        "registered_by",
        "created_at",
        "updated_at",
    }


async def test_register_binds_grant_minted_at_nylas(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    response = await client.post("/v1/grants", json=google("u-1", "sim:alice@example.com:1"))

    grant_id = response.json()["grant_id"]
    assert grant_id in simulator.grants
    assert simulator.call_count("connect_custom") == 1


async def test_register_same_mailbox_again_returns_200(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/grants", json=google("u-1", "sim:alice@example.com:1"))
    second = await client.post("/v1/grants", json=google("u-1", "sim:alice@example.com:2"))

    assert second.status_code == 200
    assert second.json()["grant_id"] == first.json()["grant_id"]
    assert "location" not in second.headers
    assert second.json()["created_at"] == first.json()["created_at"]


async def test_register_other_mailbox_replaces_and_deletes_old(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    first = await client.post("/v1/grants", json=google("u-1", "sim:alice@example.com:1"))
    old_grant_id = first.json()["grant_id"]

    second = await client.post("/v1/grants", json=google("u-1", "sim:alice.new@example.com:1"))

    assert second.status_code == 200
    assert second.json()["grant_id"] != old_grant_id
    assert old_grant_id not in simulator.grants
    lookup = await client.get("/v1/users/u-1/grant")
    assert lookup.json()["grant_id"] == second.json()["grant_id"]


async def test_register_imap_without_scope_stores_empty_scopes(
    client: httpx.AsyncClient,
) -> None:
    # Nylas omits `scope` on IMAP grants although its spec marks it required.
    response = await client.post("/v1/grants", json=imap("u-2", "jordan@example.net", "pw-1"))

    assert response.status_code == 201
    assert response.json()["scopes"] == []
    assert response.json()["email"] == "jordan@example.net"


async def test_register_each_provider_shape(client: httpx.AsyncClient) -> None:
    bodies = [
        google("u-g", "sim:g@example.com:1"),
        {
            "user_id": "u-m",
            "provider": "microsoft",
            "settings": {"refresh_token": "sim:m@example.com:1"},
        },
        {
            "user_id": "u-y",
            "provider": "yahoo",
            "settings": {"refresh_token": "sim:y@example.com:1"},
        },
        {
            "user_id": "u-z",
            "provider": "zoom",
            "settings": {"refresh_token": "sim:z@example.com:1"},
        },
        imap("u-i", "i@example.net", "pw"),
        {
            "user_id": "u-c",
            "provider": "icloud",
            "settings": {"username": "c@icloud.com", "password": "app-pw"},
        },
        {
            "user_id": "u-e",
            "provider": "ews",
            "settings": {
                "email": "e@corp.example",
                "ews_username": "CORP\\e",
                "ews_password": "pw",
            },
        },
    ]
    for body in bodies:
        response = await client.post("/v1/grants", json=body)
        assert response.status_code == 201, (body["provider"], response.text)
        assert response.json()["provider"] == body["provider"]


async def test_register_shared_mailbox_second_user_gets_409(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")
    simulator.bind_credential(provider="google", secret="rt-beta", email="shared@example.com")
    first = await client.post("/v1/grants", json=google("u-100", "rt-alpha"))
    shared_grant_id = first.json()["grant_id"]

    second = await client.post("/v1/grants", json=google("u-200", "rt-beta"))

    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert "u-100" not in second.text
    assert (await client.get("/v1/users/u-100/grant")).json()["grant_id"] == shared_grant_id
    assert (await client.get("/v1/users/u-200/grant")).status_code == 404
    assert (await client.delete("/v1/users/u-200/grant")).status_code == 404
    assert shared_grant_id in simulator.grants


async def test_register_shared_mailbox_keeps_second_users_own_grant(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")
    simulator.bind_credential(provider="google", secret="rt-beta", email="shared@example.com")
    await client.post("/v1/grants", json=google("u-100", "rt-alpha"))
    own = await client.post("/v1/grants", json=google("u-200", "sim:own@example.com:1"))

    conflict = await client.post("/v1/grants", json=google("u-200", "rt-beta"))

    assert conflict.status_code == 409
    lookup = await client.get("/v1/users/u-200/grant")
    assert lookup.json()["grant_id"] == own.json()["grant_id"]
    assert own.json()["grant_id"] in simulator.grants


async def test_register_concurrent_same_user_one_record(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    import asyncio

    bodies = [google("u-9", f"sim:u9-{index}@example.com:1") for index in range(8)]
    responses = await asyncio.gather(*(client.post("/v1/grants", json=b) for b in bodies))

    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert sum(r.status_code == 201 for r in responses) == 1
    final = (await client.get("/v1/users/u-9/grant")).json()["grant_id"]
    listing = (await client.get("/v1/grants")).json()["items"]
    assert [item["grant_id"] for item in listing] == [final]
    # Every replaced grant was deleted at Nylas; only the bound one remains.
    assert set(simulator.grants) == {final}


async def test_register_unstorable_email_stored_as_null(client: httpx.AsyncClient) -> None:
    # The simulator takes the mailbox from the iCloud username, as Nylas echoes what it is given.
    body = {
        "user_id": "u-odd",
        "provider": "icloud",
        "settings": {"username": "odd\u0000name@icloud.com", "password": "app-pw"},
    }

    response = await client.post("/v1/grants", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["email"] is None
