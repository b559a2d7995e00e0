"""Request validation: RFC 9457 problems that name the field and never echo a value."""

import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

UNKNOWN_PROVIDER_BODY = {
    "user_id": "u-300",
    "provider": "gmail",
    "settings": {"refresh_token": "1//canary-7f3a9c-DO-NOT-LOG"},
}


def _invalid_names(response: httpx.Response) -> list[str]:
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    return [param["name"] for param in response.json()["invalid_params"]]


async def test_unknown_provider_names_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/grants", json=UNKNOWN_PROVIDER_BODY)

    assert _invalid_names(response) == ["body.provider"]
    assert "google" in response.json()["invalid_params"][0]["reason"]
    assert "canary-7f3a9c" not in response.text


@pytest.mark.parametrize(
    ("body", "expected_names"),
    [
        ({"user_id": "u", "provider": "google", "settings": {}}, ["body.settings.refresh_token"]),
        (
            {"user_id": "u", "provider": "google", "settings": {"refresh_token": ""}},
            ["body.settings.refresh_token"],
        ),
        (
            {"user_id": "u", "provider": "google", "settings": {"refresh_tokn": "secret-x"}},
            ["body.settings.refresh_token", "body.settings.refresh_tokn"],
        ),
        (
            {"user_id": "u", "provider": "imap", "settings": {"imap_username": "a@b.c"}},
            ["body.settings.imap_password"],
        ),
        (
            {
                "user_id": "u",
                "provider": "imap",
                "settings": {"imap_username": "a", "imap_password": "secret-x", "imap_port": "x"},
            },
            ["body.settings.imap_port"],
        ),
        (
            {"user_id": "bad id", "provider": "google", "settings": {"refresh_token": "secret-x"}},
            ["body.user_id"],
        ),
        ({"provider": "google", "settings": {"refresh_token": "secret-x"}}, ["body.user_id"]),
        ({"user_id": "u", "settings": {"refresh_token": "secret-x"}}, ["body.provider"]),
    ],
)
async def test_invalid_body_names_each_field(
    client: httpx.AsyncClient, body: dict[str, Any], expected_names: list[str]
) -> None:
    response = await client.post("/v1/grants", json=body)

    assert _invalid_names(response) == expected_names
    assert "secret-x" not in response.text


async def test_malformed_json_is_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/grants",
        content=b'{"refresh_token": "secret-x", ',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret-x" not in response.text


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-Id": "req-abc-123"})

    assert response.headers["x-request-id"] == "req-abc-123"


async def test_request_id_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/nobody/grant")

    assert len(response.headers["x-request-id"]) == 32
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/events", {"after": "²"}),
        ("/v1/events", {"after": "٣"}),
        ("/v1/events", {"after": "99999999999999999999"}),
        ("/v1/grants", {"cursor": "eyJhZnRlciI6Ilx1ZDgwMCJ9"}),
        ("/v1/grants", {"cursor": "eyJhZnRlciI6Ilx1MDAwMCJ9"}),
        ("/v1/grants", {"cursor": "eyJhZnRlciI6NX0"}),
        ("/v1/grants/a%00b", {}),
        ("/v1/users/../grant", {}),
        ("/v1/users/./grant/status", {}),
    ],
)
async def test_hostile_identifiers_are_422_not_500(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)

    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("user_id", [".", ".."])
async def test_dot_user_ids_are_rejected(client: httpx.AsyncClient, user_id: str) -> None:
    body = {"user_id": user_id, "provider": "google", "settings": {"refresh_token": "secret-x"}}

    response = await client.post("/v1/grants", json=body)

    assert _invalid_names(response) == ["body.user_id"]


async def test_host_with_control_character_is_rejected(client: httpx.AsyncClient) -> None:
    settings = {"imap_username": "a@b.c", "imap_password": "secret-x", "imap_host": "h\u0000.x"}
    body = {"user_id": "u", "provider": "imap", "settings": settings}

    response = await client.post("/v1/grants", json=body)

    assert _invalid_names(response) == ["body.settings.imap_host"]


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    body = {"user_id": "u", "provider": "google", "settings": {"refresh_token": "x" * 200_000}}

    response = await client.post("/v1/grants", json=body)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_provider_says_required(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/grants", json={"user_id": "u", "settings": {}})

    assert response.json()["invalid_params"] == [
        {"name": "body.provider", "reason": "Field required"}
    ]


async def test_malformed_json_names_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/grants", content=b'{"user_id": ', headers={"content-type": "application/json"}
    )

    assert _invalid_names(response) == ["body"]
    assert "invalid JSON" in response.json()["invalid_params"][0]["reason"]


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"user_id": "u", "provider": "google", "settings": {"refresh_token": "'
        for _ in range(20):
            yield b"x" * 10_000
        yield b'"}}'

    # A streamed body has no Content-Length, so the limit applies while it is read.
    response = await client.post(
        "/v1/grants", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"user_id": "u", "settings": {"refresh_token": "secret-x\xff\xfe"}}', "UTF-8"),
        (gzip.compress(b'{"user_id": "u", "secret-x": 1}'), "UTF-8"),
        (b'{"state": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested too deeply"),
    ],
    ids=["not-utf8", "gzip", "deep-nesting"],
)
async def test_unreadable_body_names_body(
    client: httpx.AsyncClient, content: bytes, reason: str
) -> None:
    response = await client.post(
        "/v1/grants", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert _invalid_names(response) == ["body"]
    assert reason in response.json()["invalid_params"][0]["reason"]
    assert "secret-x" not in response.text


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ('{"refresh_token": "secret-x\\ud800"}', "body.settings.refresh_token"),
        (
            '{"imap_username": "a@example.com", "imap_password": "secret-x\\udfff"}',
            "body.settings.imap_password",
        ),
    ],
    ids=["refresh-token", "imap-password"],
)
async def test_unpaired_surrogate_names_field(
    client: httpx.AsyncClient, credentials: str, field: str
) -> None:
    provider = "imap" if "imap" in credentials else "google"
    body = f'{{"user_id": "u-1", "provider": "{provider}", "settings": {credentials}}}'

    response = await client.post(
        "/v1/grants", content=body.encode(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert _invalid_names(response) == [field]
    assert "secret-x" not in response.text


async def test_long_secret_limit_in_characters(client: httpx.AsyncClient) -> None:
    body = {"user_id": "u-1", "provider": "google", "settings": {"refresh_token": "x" * 5000}}

    response = await client.post("/v1/grants", json=body)

    assert response.json()["invalid_params"] == [
        {"name": "body.settings.refresh_token", "reason": "must be at most 4096 characters"}
    ]
