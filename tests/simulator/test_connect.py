"""POST /v3/connect/custom: validation, scopes, connectors and the one-grant-per-mailbox rule."""

from typing import Any

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import START_TIME, FakeClock

CANARY = "1//canary-7f3a9c-DO-NOT-LOG"
GOOGLE_DEFAULT_SCOPES = [
    *bodies.GOOGLE_REQUIRED_SCOPES,
    "https://www.googleapis.com/auth/gmail.modify",
]


async def connect(nylas: httpx.AsyncClient, body: object) -> httpx.Response:
    return await nylas.post("/v3/connect/custom", json=body)


async def test_connect_google_creates_grant(nylas: httpx.AsyncClient) -> None:
    response = await connect(nylas, bodies.google("sim:alice@example.com:1"))

    assert response.status_code == 201
    grant = response.json()["data"]
    assert grant["provider"] == "google"
    assert grant["email"] == "alice@example.com"
    assert grant["grant_status"] == "valid"
    assert grant["scope"] == GOOGLE_DEFAULT_SCOPES
    assert grant["created_at"] == START_TIME
    assert grant["updated_at"] == START_TIME


async def test_connect_request_id_in_body_and_header(nylas: httpx.AsyncClient) -> None:
    response = await connect(nylas, bodies.google("sim:alice@example.com:1"))

    request_id = response.json()["request_id"]
    assert request_id == response.headers["X-Request-Id"]
    assert len(request_id) == 36


@pytest.mark.parametrize(
    ("body", "email", "scope"),
    [
        (
            bodies.oauth("microsoft", "sim:m@example.com:1"),
            "m@example.com",
            ["Mail.Read", "User.Read", "offline_access"],
        ),
        (bodies.oauth("yahoo", "sim:y@example.com:1"), "y@example.com", ["email", "mail-r"]),
        (
            bodies.oauth("zoom", "sim:z@example.com:1"),
            "z@example.com",
            ["meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting"],
        ),
        (
            bodies.ews(
                "e@corp.example", "CORP\\e", "pw", ews_host="ews.corp.example", ews_port=443
            ),
            "e@corp.example",
            ["ews.messages", "ews.calendars", "ews.contacts"],
        ),
    ],
)
async def test_connect_provider_default_scopes(
    nylas: httpx.AsyncClient, body: dict[str, Any], email: str, scope: list[str]
) -> None:
    response = await connect(nylas, body)

    assert response.status_code == 201
    assert response.json()["data"]["email"] == email
    assert response.json()["data"]["scope"] == scope


@pytest.mark.parametrize(
    "body",
    [
        bodies.imap("jordan@example.net", "pw"),
        bodies.icloud("jordan@icloud.example", "app-password"),
    ],
)
async def test_connect_imap_icloud_omit_scope(
    nylas: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await connect(nylas, {**body, "scope": ["mail.read"]})

    assert response.status_code == 201
    assert "scope" not in response.json()["data"]


async def test_connect_state_echoed(nylas: httpx.AsyncClient) -> None:
    response = await connect(nylas, bodies.google("sim:a@example.com:1", state="csrf-42"))

    assert response.json()["data"]["state"] == "csrf-42"


async def test_connect_requested_scope_kept(nylas: httpx.AsyncClient) -> None:
    body = bodies.oauth("microsoft", "sim:m@example.com:1", scope=["Mail.Send"])

    response = await connect(nylas, body)

    assert response.json()["data"]["scope"] == ["Mail.Send"]


async def test_connect_google_requested_scope_kept(nylas: httpx.AsyncClient) -> None:
    scope = [*bodies.GOOGLE_REQUIRED_SCOPES, "https://mail.google.com/"]

    response = await connect(nylas, bodies.google("sim:a@example.com:1", scope=scope))

    assert response.status_code == 201
    assert response.json()["data"]["scope"] == scope


@pytest.mark.parametrize(
    "scope",
    [
        [],
        ["https://www.googleapis.com/auth/gmail.modify"],
        bodies.GOOGLE_REQUIRED_SCOPES[:2],
    ],
)
async def test_connect_google_without_profile_scopes(
    nylas: httpx.AsyncClient, sim: NylasSimulator, scope: list[str]
) -> None:
    response = await connect(nylas, bodies.google("sim:a@example.com:1", scope=scope))

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid or revoked refresh token"
    assert sim.grants == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"settings": {"refresh_token": CANARY}}, "provider"),
        ({"provider": "gmail", "settings": {"refresh_token": CANARY}}, "provider"),
        ({"provider": CANARY, "settings": {"refresh_token": CANARY}}, "provider"),
        ({"provider": "google"}, "settings"),
        ({"provider": "google", "settings": CANARY}, "settings"),
        ({"provider": "google", "settings": {}}, "settings.refresh_token"),
        ({"provider": "google", "settings": {"refresh_token": 12345}}, "settings.refresh_token"),
        ({"provider": "google", "settings": {"refresh_token": ""}}, "settings.refresh_token"),
        (
            {"provider": "google", "settings": {"refresh_token": CANARY, "credential_id": 7}},
            "settings.credential_id",
        ),
        (
            {"provider": "imap", "settings": {"imap_username": "a@b.example"}},
            "settings.imap_password",
        ),
        (bodies.imap("a@b.example", CANARY, imap_port="993"), "settings.imap_port"),
        (bodies.imap("a@b.example", CANARY, smtp_port=True), "settings.smtp_port"),
        (bodies.imap("a@b.example", CANARY, imap_host=993), "settings.imap_host"),
        ({"provider": "icloud", "settings": {"password": CANARY}}, "settings.username"),
        (
            {"provider": "ews", "settings": {"ews_username": "u", "ews_password": CANARY}},
            "settings.email",
        ),
        (bodies.ews("e@corp.example", "u", CANARY, ews_port="443"), "settings.ews_port"),
        (bodies.google(CANARY, scope="openid"), "scope"),
        (bodies.google(CANARY, scope=[1, 2]), "scope"),
        (bodies.google(CANARY, state=7), "state"),
        ([CANARY], "request body"),
    ],
)
async def test_connect_invalid_body_names_field(
    nylas: httpx.AsyncClient, sim: NylasSimulator, body: object, field: str
) -> None:
    response = await connect(nylas, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert field in error["message"]
    assert "provider_error" not in error
    assert CANARY not in response.text
    assert sim.grants == {}


async def test_connect_unparseable_json(nylas: httpx.AsyncClient) -> None:
    response = await nylas.post(
        "/v3/connect/custom",
        content=b'{"provider": "google", "settings": {"refresh_token": "' + CANARY.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("error parsing request body")
    assert CANARY not in response.text


async def test_connect_without_connector(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.remove_connector("imap")

    response = await connect(nylas, bodies.imap("jordan@example.net", "pw"))

    assert response.status_code == 400
    assert "connector" in response.json()["error"]["message"]
    assert "imap" in response.json()["error"]["message"]


async def test_connect_connector_added_back(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.remove_connector("imap")
    sim.add_connector("imap")

    response = await connect(nylas, bodies.imap("jordan@example.net", "pw"))

    assert response.status_code == 201


async def test_connect_revoked_token(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.revoke_credential(provider="google", secret=CANARY)

    response = await connect(nylas, bodies.google(CANARY))

    assert response.status_code == 400
    assert response.json()["error"]["provider_error"] == {"error": "invalid_grant"}
    assert CANARY not in response.text
    assert sim.grants == {}


async def test_connect_revocation_is_per_provider(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    sim.revoke_credential(provider="google", secret="rt-shared")

    response = await connect(nylas, bodies.oauth("microsoft", "rt-shared"))

    assert response.status_code == 201


@pytest.mark.parametrize("revoked", ["jordan@example.net", "imap-password"])
async def test_connect_revoked_imap_login_or_password(
    nylas: httpx.AsyncClient, sim: NylasSimulator, revoked: str
) -> None:
    sim.revoke_credential(provider="imap", secret=revoked)

    response = await connect(nylas, bodies.imap("jordan@example.net", "imap-password"))

    assert response.status_code == 400
    assert response.json()["error"]["provider_error"] == {"error": "invalid_grant"}


async def test_connect_again_reauthenticates(
    nylas: httpx.AsyncClient, wall_clock: FakeClock
) -> None:
    first = (await connect(nylas, bodies.google("sim:a@example.com:1"))).json()["data"]
    wall_clock.advance(60)

    second = (await connect(nylas, bodies.google("sim:a@example.com:2"))).json()["data"]

    assert second["id"] == first["id"]
    assert second["created_at"] == START_TIME
    assert second["updated_at"] == START_TIME + 60


async def test_connect_reauth_validates_expired_grant(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    grant_id = (await connect(nylas, bodies.google("sim:a@example.com:1"))).json()["data"]["id"]
    sim.expire_grant(grant_id)

    response = await connect(nylas, bodies.google("sim:a@example.com:1"))

    assert response.json()["data"]["id"] == grant_id
    assert response.json()["data"]["grant_status"] == "valid"


async def test_connect_mailbox_case_insensitive(nylas: httpx.AsyncClient) -> None:
    first = await connect(nylas, bodies.google("sim:Alice@Example.com:1"))
    second = await connect(nylas, bodies.google("sim:alice@example.com:2"))

    assert second.json()["data"]["id"] == first.json()["data"]["id"]


async def test_connect_same_mailbox_other_provider(nylas: httpx.AsyncClient) -> None:
    first = await connect(nylas, bodies.google("sim:a@example.com:1"))
    second = await connect(nylas, bodies.imap("a@example.com", "pw"))

    assert second.json()["data"]["id"] == first.json()["data"]["id"]
    assert second.json()["data"]["provider"] == "imap"


async def test_connect_after_delete_new_id(nylas: httpx.AsyncClient) -> None:
    first = await connect(nylas, bodies.google("sim:a@example.com:1"))
    deleted = await nylas.delete(f"/v3/grants/{first.json()['data']['id']}")

    second = await connect(nylas, bodies.google("sim:a@example.com:1"))

    assert deleted.status_code == 200
    assert second.status_code == 201
    assert second.json()["data"]["id"] != first.json()["data"]["id"]


async def test_connect_keeps_only_public_settings(nylas: httpx.AsyncClient) -> None:
    body = bodies.imap("jordan@example.net", CANARY, imap_host="imap.example.net", imap_port=993)

    response = await connect(nylas, body)

    assert response.json()["data"]["settings"] == {
        "imap_host": "imap.example.net",
        "imap_port": 993,
    }
    assert CANARY not in response.text


async def test_connect_records_client_ip(nylas: httpx.AsyncClient) -> None:
    response = await connect(nylas, bodies.google("sim:a@example.com:1"))

    assert response.json()["data"]["ip"] == "127.0.0.1"
