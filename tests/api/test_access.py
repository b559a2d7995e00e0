"""Caller identity on the real routes: every operation against every identity case."""

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.auth import AuthMode
from app.core.config import Settings
from app.main import create_app
from app.simulator import NylasSimulator

REGISTRAR = "spiffe://cluster.local/ns/onboarding/sa/onboarding-api"
READER = "spiffe://cluster.local/ns/mail/sa/mail-sync"
STRANGER = "spiffe://cluster.local/ns/other/sa/other"
CALLERS = {
    REGISTRAR: ["grants:register", "grants:read", "grants:delete", "events:read"],
    READER: ["grants:read"],
}

REGISTRATION = {
    "user_id": "u-acl",
    "provider": "google",
    "settings": {"refresh_token": "sim:acl@example.com:1"},
}

# (method, path, body, permission the route needs)
OPERATIONS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/v1/grants", REGISTRATION, "grants:register"),
    ("GET", "/v1/users/u-acl/grant", None, "grants:read"),
    ("GET", "/v1/users/u-acl/grant/status", None, "grants:read"),
    ("GET", "/v1/grants/GRANT_ID", None, "grants:read"),
    ("GET", "/v1/grants", None, "grants:read"),
    ("GET", "/v1/events", None, "events:read"),
    ("DELETE", "/v1/users/u-acl/grant", None, "grants:delete"),
]


def xfcc(*uris: str) -> str:
    return ",".join(
        f"By=spiffe://cluster.local/ns/broker/sa/broker;Hash=abc;URI={uri}" for uri in uris
    )


IDENTITY_CASES: dict[str, tuple[dict[str, str], int | None]] = {
    "none": ({}, 401),
    "malformed": ({"X-Forwarded-Client-Cert": 'URI="unterminated'}, 401),
    "forged_first_unknown_last": ({"X-Forwarded-Client-Cert": xfcc(REGISTRAR, STRANGER)}, 403),
    "unknown_principal": ({"X-Forwarded-Client-Cert": xfcc(STRANGER)}, 403),
    "without_permission": ({"X-Forwarded-Client-Cert": xfcc(READER)}, None),
    "allowed": ({"X-Forwarded-Client-Cert": xfcc(REGISTRAR)}, None),
}


@pytest.fixture
async def mesh_client(
    settings: Settings, simulator: NylasSimulator
) -> AsyncIterator[httpx.AsyncClient]:
    mesh = settings.model_copy(update={"auth_mode": AuthMode.MESH, "callers": json.dumps(CALLERS)})
    app = create_app(mesh, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
            yield http


async def _registered_grant_id(client: httpx.AsyncClient) -> str:
    headers = {"X-Forwarded-Client-Cert": xfcc(REGISTRAR)}
    response = await client.post("/v1/grants", json=REGISTRATION, headers=headers)
    assert response.status_code in (200, 201), response.text
    grant_id: str = response.json()["grant_id"]
    return grant_id


def _expected(case: str, permission: str, success: int) -> int:
    _, status = IDENTITY_CASES[case]
    if status is not None:
        return status
    if case == "without_permission":
        return 200 if permission in CALLERS[READER] else 403
    return success


SUCCESS = {"POST": 200, "GET": 200, "DELETE": 204}


@pytest.mark.parametrize("case", list(IDENTITY_CASES))
@pytest.mark.parametrize(("method", "path", "body", "permission"), OPERATIONS)
async def test_operation_identity_table(
    mesh_client: httpx.AsyncClient,
    case: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    permission: str,
) -> None:
    grant_id = await _registered_grant_id(mesh_client)
    headers, _ = IDENTITY_CASES[case]

    response = await mesh_client.request(
        method, path.replace("GRANT_ID", grant_id), json=body, headers=headers
    )

    assert response.status_code == _expected(case, permission, SUCCESS[method]), response.text
    if response.status_code in (401, 403):
        assert response.headers["content-type"] == "application/problem+json"
        own = headers.get("X-Forwarded-Client-Cert", "").rsplit("URI=", 1)[-1]
        others = [p for p in (REGISTRAR, READER) if p != own]
        # `instance` repeats the caller's own request path; the rest must reveal nothing.
        problem = {k: v for k, v in response.json().items() if k != "instance"}
        for hidden in (*others, grant_id):
            assert hidden not in json.dumps(problem)
    if response.status_code == 401:
        assert "www-authenticate" in response.headers


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/openapi.json"])
async def test_open_routes_need_no_identity(mesh_client: httpx.AsyncClient, path: str) -> None:
    response = await mesh_client.get(path)

    assert response.status_code == 200


async def test_audit_records_principals(
    mesh_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    grant_id = await _registered_grant_id(mesh_client)
    await mesh_client.get(
        "/v1/users/u-acl/grant", headers={"X-Forwarded-Client-Cert": xfcc(READER)}
    )
    await mesh_client.delete(
        "/v1/users/u-acl/grant", headers={"X-Forwarded-Client-Cert": xfcc(REGISTRAR)}
    )

    events = (
        await mesh_client.get("/v1/events", headers={"X-Forwarded-Client-Cert": xfcc(REGISTRAR)})
    ).json()["items"]
    assert [(e["type"], e["actor"]) for e in events] == [
        ("grant.registered", REGISTRAR),
        ("grant.deleted", REGISTRAR),
    ]
    assert events[0]["grant_id"] == grant_id
    reads = [
        json.loads(line)
        for line in log_output.getvalue().splitlines()
        if '"http.request"' in line and "/v1/users/u-acl/grant" in line
    ]
    assert {(r["method"], r.get("principal")) for r in reads} >= {
        ("GET", READER),
        ("DELETE", REGISTRAR),
    }


async def test_registered_by_is_stored(mesh_client: httpx.AsyncClient) -> None:
    await _registered_grant_id(mesh_client)

    record = await mesh_client.get(
        "/v1/users/u-acl/grant", headers={"X-Forwarded-Client-Cert": xfcc(READER)}
    )

    assert record.json()["registered_by"] == REGISTRAR
