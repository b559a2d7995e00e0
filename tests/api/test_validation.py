"""Request validation: RFC 9457 problems that name the field and never echo a value."""

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
