"""Mesh mode: the caller is the SPIFFE ID in the last X-Forwarded-Client-Cert element."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from tests.auth.conftest import (
    BILLING,
    MAINTENANCE,
    MESH_CALLERS,
    OFFBOARDING,
    REQUEST_ID,
    STRANGER,
    ClientFactory,
    xfcc,
)

PROBLEMS = "https://grant-broker.internal/problems/"
MESH_HINT = "Call grant-broker through the service mesh with mutual TLS."
CHALLENGE = 'XFCC realm="grant-broker"'


def unauthenticated(detail: str, instance: str = "/grants") -> dict[str, Any]:
    return {
        "type": PROBLEMS + "unauthenticated",
        "title": "Authentication required",
        "status": 401,
        "detail": detail,
        "instance": instance,
        "request_id": REQUEST_ID,
    }


def lacking(principal: str, permission: str, instance: str = "/grants") -> dict[str, Any]:
    return {
        "type": PROBLEMS + "permission-denied",
        "title": "Permission denied",
        "status": 403,
        "detail": (
            f"The caller {principal} lacks the permission {permission} for this operation. "
            "Ask the operators of grant-broker to grant it."
        ),
        "instance": instance,
        "missing_permissions": [permission],
        "request_id": REQUEST_ID,
    }


IDENTITY_CASES = [
    pytest.param(
        [],
        401,
        unauthenticated(f"The request has no X-Forwarded-Client-Cert header. {MESH_HINT}"),
        id="no-header",
    ),
    pytest.param(
        ['By=spiffe://cluster.local/ns/a/sa/b;URI="spiffe://cluster.local'],
        401,
        unauthenticated(
            "The X-Forwarded-Client-Cert header is malformed at character 63: unterminated "
            f"quoted value. {MESH_HINT}"
        ),
        id="malformed",
    ),
    pytest.param(
        [f'URI={BILLING};a="' + "," + xfcc(STRANGER)],
        401,
        unauthenticated(
            "The X-Forwarded-Client-Cert header is malformed at character 194: expected ';' or "
            f"',' after the value. {MESH_HINT}"
        ),
        id="forged-first-opens-quote",
    ),
    pytest.param(
        [f"URI={BILLING}," + 'By=spiffe://cluster.local/ns/a/sa/b;Hash=abc;Subject="";URI='],
        401,
        unauthenticated("The mesh client certificate must carry exactly one URI SAN, found 0."),
        id="forged-first-last-without-uri",
    ),
    pytest.param(
        ['By=spiffe://cluster.local/ns/a/sa/b;Hash=abc;Subject=""'],
        401,
        unauthenticated("The mesh client certificate must carry exactly one URI SAN, found 0."),
        id="last-without-uri-key",
    ),
    pytest.param(
        [xfcc(BILLING) + f";URI={OFFBOARDING}"],
        401,
        unauthenticated("The mesh client certificate must carry exactly one URI SAN, found 2."),
        id="two-uris",
    ),
    pytest.param(
        [xfcc("spiffe://cluster.local/billing-api")],
        401,
        unauthenticated(
            "The mesh client certificate's URI is not an Istio workload ID "
            "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>."
        ),
        id="not-workload-id",
    ),
    pytest.param(
        [f"URI={BILLING}," + xfcc(STRANGER)],
        403,
        lacking(STRANGER, "grants:read"),
        id="forged-first-unknown-last",
    ),
    pytest.param([xfcc(STRANGER)], 403, lacking(STRANGER, "grants:read"), id="unknown-principal"),
    pytest.param(
        [xfcc(MAINTENANCE)], 403, lacking(MAINTENANCE, "grants:read"), id="admin-lacks-read"
    ),
    pytest.param([xfcc(BILLING)], 200, {"status": "ok"}, id="allowed"),
    pytest.param(
        [f"URI={STRANGER}," + xfcc(BILLING)], 200, {"status": "ok"}, id="forged-first-allowed-last"
    ),
    pytest.param(
        [f"URI={MAINTENANCE}", xfcc(BILLING)], 200, {"status": "ok"}, id="two-header-lines"
    ),
]


@pytest.mark.parametrize(("header_lines", "status", "body"), IDENTITY_CASES)
async def test_mesh_identity_cases(
    mesh_client: httpx.AsyncClient, header_lines: list[str], status: int, body: dict[str, Any]
) -> None:
    headers = [("X-Forwarded-Client-Cert", line) for line in header_lines]

    response = await mesh_client.get("/grants", headers=headers)

    assert response.status_code == status
    assert response.json() == body
    if status == 401:
        assert response.headers["www-authenticate"] == CHALLENGE
        assert response.headers["content-type"] == "application/problem+json"
    else:
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(("header_lines", "status", "body"), IDENTITY_CASES)
async def test_mesh_problem_names_no_other_caller(
    mesh_client: httpx.AsyncClient, header_lines: list[str], status: int, body: dict[str, Any]
) -> None:
    headers = [("X-Forwarded-Client-Cert", line) for line in header_lines]
    last_element = header_lines[-1].rsplit(",", 1)[-1] if header_lines else ""

    response = await mesh_client.get("/grants", headers=headers)

    others = [principal for principal in MESH_CALLERS if principal not in last_element]
    for principal in others:
        assert principal not in response.text


async def test_mesh_delete_needs_delete(mesh_client: httpx.AsyncClient) -> None:
    rejected = await mesh_client.delete(
        "/grants", headers={"X-Forwarded-Client-Cert": xfcc(BILLING)}
    )
    allowed = await mesh_client.delete(
        "/grants", headers={"X-Forwarded-Client-Cert": xfcc(OFFBOARDING)}
    )

    assert rejected.status_code == 403
    assert rejected.json() == lacking(BILLING, "grants:delete")
    assert allowed.status_code == 200
    assert allowed.json() == {"principal": OFFBOARDING}


async def test_mesh_admin_route(mesh_client: httpx.AsyncClient) -> None:
    allowed = await mesh_client.get(
        "/admin", headers={"X-Forwarded-Client-Cert": xfcc(MAINTENANCE)}
    )
    rejected = await mesh_client.get("/admin", headers={"X-Forwarded-Client-Cert": xfcc(BILLING)})

    assert allowed.status_code == 200
    assert rejected.json() == lacking(BILLING, "admin", instance="/admin")


async def test_caller_dep_known_caller(mesh_client: httpx.AsyncClient) -> None:
    response = await mesh_client.get("/whoami", headers={"X-Forwarded-Client-Cert": xfcc(BILLING)})

    assert response.status_code == 200
    assert response.json() == {
        "principal": BILLING,
        "permissions": ["grants:read", "grants:register"],
    }


async def test_caller_dep_unknown_caller(mesh_client: httpx.AsyncClient) -> None:
    response = await mesh_client.get("/whoami", headers={"X-Forwarded-Client-Cert": xfcc(STRANGER)})

    assert response.status_code == 403
    assert response.json() == {
        "type": PROBLEMS + "permission-denied",
        "title": "Permission denied",
        "status": 403,
        "detail": (
            f"The caller {STRANGER} is not allowed to call grant-broker. Ask the operators of "
            "grant-broker for access."
        ),
        "instance": "/whoami",
        "request_id": REQUEST_ID,
    }


async def test_caller_dep_without_header(mesh_client: httpx.AsyncClient) -> None:
    response = await mesh_client.get("/whoami")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_open_route_needs_no_identity(mesh_client: httpx.AsyncClient) -> None:
    response = await mesh_client.get("/livez")

    assert response.status_code == 200


async def test_missing_authenticator_fails_closed(make_client: ClientFactory) -> None:
    client = make_client(None)

    response = await client.get("/grants", headers={"X-Forwarded-Client-Cert": xfcc(BILLING)})

    assert response.status_code == 500
    assert response.json()["title"] == "Internal server error"


def request_log_lines(output: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "http.request"]


async def test_principal_in_request_log(
    mesh_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await mesh_client.get("/grants", headers={"X-Forwarded-Client-Cert": xfcc(BILLING)})
    await mesh_client.get("/grants", headers={"X-Forwarded-Client-Cert": xfcc(STRANGER)})
    await mesh_client.get("/grants")

    allowed, rejected, anonymous = request_log_lines(log_output)
    assert (allowed["principal"], allowed["status"]) == (BILLING, 200)
    assert (rejected["principal"], rejected["status"]) == (STRANGER, 403)
    assert anonymous["status"] == 401
    assert "principal" not in anonymous


async def test_unauthenticated_log_omits_header(
    mesh_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    forged = 'URI="spiffe://canary-7d1e/ns/a/sa/b'

    await mesh_client.get("/grants", headers={"X-Forwarded-Client-Cert": forged})

    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    events = [line for line in lines if line["event"] == "auth.unauthenticated"]
    assert events == [{**events[0], "mode": "mesh", "reason": "xfcc_malformed", "level": "info"}]
    assert "canary-7d1e" not in log_output.getvalue()
