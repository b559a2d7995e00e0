"""The mapping from submitted credentials to mailboxes, rule by rule."""

import hashlib
from typing import Any

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.simulator import bodies


async def connect(nylas: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await nylas.post("/v3/connect/custom", json=body)


async def connected_email(nylas: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await connect(nylas, body)
    assert response.status_code == 201, response.text
    email: str = response.json()["data"]["email"]
    return email


def fingerprint(provider: str, refresh_token: str) -> str:
    return hashlib.sha256(f"{provider}:{refresh_token}".encode()).hexdigest()[:12]


async def test_bound_token_maps_to_bound_email(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    sim.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")

    assert await connected_email(nylas, bodies.google("rt-alpha")) == "shared@example.com"


async def test_bound_tokens_share_one_grant(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")
    sim.bind_credential(provider="google", secret="rt-beta", email="shared@example.com")

    first = await connect(nylas, bodies.google("rt-alpha"))
    second = await connect(nylas, bodies.google("rt-beta"))

    assert second.json()["data"]["id"] == first.json()["data"]["id"]


async def test_binding_wins_over_demo_token(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.bind_credential(provider="google", secret="sim:a@example.com:1", email="b@example.com")

    assert await connected_email(nylas, bodies.google("sim:a@example.com:1")) == "b@example.com"


async def test_binding_is_per_provider(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")

    email = await connected_email(nylas, bodies.oauth("microsoft", "rt-alpha"))

    assert email == f"user-{fingerprint('microsoft', 'rt-alpha')}@outlook.example.com"


@pytest.mark.parametrize(
    ("refresh_token", "email"),
    [
        ("sim:alice@example.com:1", "alice@example.com"),
        ("sim:alice@example.com:", "alice@example.com"),
        ("sim:alice@example.com:a:b", "alice@example.com"),
    ],
)
async def test_demo_token_maps_to_its_email(
    nylas: httpx.AsyncClient, refresh_token: str, email: str
) -> None:
    assert await connected_email(nylas, bodies.google(refresh_token)) == email


@pytest.mark.parametrize("refresh_token", ["sim:alice@example.com", "sim:alice:1", "SIM:a@b.c:1"])
async def test_malformed_demo_token_is_hashed(nylas: httpx.AsyncClient, refresh_token: str) -> None:
    email = await connected_email(nylas, bodies.google(refresh_token))

    assert email == f"user-{fingerprint('google', refresh_token)}@gmail.example.com"


@pytest.mark.parametrize(
    ("provider", "domain"),
    [
        ("google", "gmail.example.com"),
        ("microsoft", "outlook.example.com"),
        ("yahoo", "yahoo.example.com"),
        ("zoom", "zoom.example.com"),
    ],
)
async def test_other_token_maps_to_hashed_mailbox(
    nylas: httpx.AsyncClient, provider: str, domain: str
) -> None:
    email = await connected_email(nylas, bodies.oauth(provider, "rt-123"))

    assert email == f"user-{fingerprint(provider, 'rt-123')}@{domain}"


async def test_hashed_mailbox_is_stable(nylas: httpx.AsyncClient) -> None:
    first = await connect(nylas, bodies.google("rt-123"))
    second = await connect(nylas, bodies.google("rt-123"))

    assert second.json()["data"]["id"] == first.json()["data"]["id"]


async def test_imap_email_username(nylas: httpx.AsyncClient) -> None:
    body = bodies.imap("jordan@example.net", "pw", imap_host="imap.other.example")

    assert await connected_email(nylas, body) == "jordan@example.net"


async def test_imap_plain_username_with_host(nylas: httpx.AsyncClient) -> None:
    body = bodies.imap("jordan", "pw", imap_host="mail.example.net")

    assert await connected_email(nylas, body) == "jordan@mail.example.net"


async def test_imap_plain_username_without_host(nylas: httpx.AsyncClient) -> None:
    response = await connect(nylas, bodies.imap("jordan", "pw"))

    assert response.status_code == 400
    assert "settings.imap_host" in response.json()["error"]["message"]


async def test_icloud_maps_to_username(nylas: httpx.AsyncClient) -> None:
    assert await connected_email(nylas, bodies.icloud("kim@icloud.example", "pw")) == (
        "kim@icloud.example"
    )


async def test_ews_maps_to_email(nylas: httpx.AsyncClient) -> None:
    body = bodies.ews("lee@corp.example", "CORP\\lee", "pw")

    assert await connected_email(nylas, body) == "lee@corp.example"


@pytest.mark.parametrize(
    ("provider", "login", "body"),
    [
        ("imap", "jordan", bodies.imap("jordan", "right", imap_host="mail.example.net")),
        ("icloud", "kim@icloud.example", bodies.icloud("kim@icloud.example", "right")),
        ("ews", "CORP\\lee", bodies.ews("lee@corp.example", "CORP\\lee", "right")),
    ],
)
async def test_bound_password_matches(
    nylas: httpx.AsyncClient, sim: NylasSimulator, provider: str, login: str, body: dict[str, Any]
) -> None:
    sim.bind_credential(provider=provider, secret=login, email="box@example.org", password="right")

    assert await connected_email(nylas, body) == "box@example.org"


@pytest.mark.parametrize(
    ("provider", "login", "body"),
    [
        ("imap", "jordan", bodies.imap("jordan", "wrong-pw", imap_host="mail.example.net")),
        ("icloud", "kim@icloud.example", bodies.icloud("kim@icloud.example", "wrong-pw")),
        ("ews", "CORP\\lee", bodies.ews("lee@corp.example", "CORP\\lee", "wrong-pw")),
    ],
)
async def test_bound_password_mismatch(
    nylas: httpx.AsyncClient, sim: NylasSimulator, provider: str, login: str, body: dict[str, Any]
) -> None:
    sim.bind_credential(provider=provider, secret=login, email="box@example.org", password="right")

    response = await connect(nylas, body)

    assert response.status_code == 400
    assert response.json()["error"]["provider_error"] == {"error": "invalid_grant"}
    assert "wrong-pw" not in response.text
    assert sim.grants == {}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"provider": "gmail", "secret": "rt-secret-1", "email": "a@example.com"}, "provider"),
        ({"provider": "google", "secret": "rt-secret-1", "email": "nobody"}, "email"),
        (
            {
                "provider": "google",
                "secret": "rt-secret-1",
                "email": "a@example.com",
                "password": "pw-secret-1",
            },
            "password",
        ),
    ],
)
def test_bind_invalid_arguments(
    sim: NylasSimulator, arguments: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment) as raised:
        sim.bind_credential(**arguments)

    assert "secret-1" not in str(raised.value)
