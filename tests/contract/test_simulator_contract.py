"""Every simulator response, success and error, validates against Nylas's OpenAPI file.

The requests the simulator received (from its redacted record) are validated too, so the
request shapes used here are the documented ones.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.contract.conftest import API_KEY, BASE_URL
from tests.contract.openapi import ContractViolation, validate_request, validate_response
from tests.simulator import bodies

Scenario = Callable[[NylasSimulator, httpx.AsyncClient], Awaitable[httpx.Response]]

CONNECT_BODIES: dict[str, dict[str, Any]] = {
    "google": bodies.google(
        "sim:g@example.com:1",
        scope=[*bodies.GOOGLE_REQUIRED_SCOPES, "https://www.googleapis.com/auth/gmail.modify"],
        state="state-1",
    ),
    "microsoft": bodies.oauth("microsoft", "rt-microsoft", scope=["Mail.Read", "User.Read"]),
    "yahoo": bodies.oauth("yahoo", "rt-yahoo"),
    "zoom": bodies.oauth("zoom", "rt-zoom"),
    # IMAP and iCloud grants come back without `scope`: the checked deviation.
    "imap": bodies.imap(
        "jordan@example.net", "pw", imap_host="imap.example.net", imap_port=993, smtp_port=465
    ),
    "icloud": bodies.icloud("kim@icloud.example", "app-password"),
    "ews": bodies.ews(
        "lee@corp.example", "CORP\\lee", "pw", ews_host="ews.corp.example", ews_port=443
    ),
}


@dataclass(frozen=True)
class Case:
    operation: str
    status: int
    run: Scenario


async def create(nylas: httpx.AsyncClient, provider: str = "google") -> str:
    response = await nylas.post("/v3/connect/custom", json=CONNECT_BODIES[provider])
    grant_id: str = response.json()["data"]["id"]
    return grant_id


def wrong_key(sim: NylasSimulator) -> httpx.AsyncClient:
    headers = {"Authorization": "Bearer not-accepted"}
    return httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL, headers=headers)


async def connect(provider: str, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.post("/v3/connect/custom", json=CONNECT_BODIES[provider])


def connect_case(provider: str) -> Case:
    async def run(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
        return await connect(provider, nylas)

    return Case("connect_custom", 201, run)


async def connect_again(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    await connect("google", nylas)
    return await connect("google", nylas)


async def connect_missing_field(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.post("/v3/connect/custom", json={"provider": "google", "settings": {}})


async def connect_revoked(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    sim.revoke_credential(provider="microsoft", secret="rt-microsoft")
    return await connect("microsoft", nylas)


async def connect_no_connector(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    sim.remove_connector("zoom")
    return await connect("zoom", nylas)


async def connect_unauthorized(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    async with wrong_key(sim) as client:
        return await client.post("/v3/connect/custom", json=CONNECT_BODIES["google"])


async def list_all(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    for provider in CONNECT_BODIES:
        await create(nylas, provider)
    return await nylas.get("/v3/grants", params={"limit": 200, "sort_by": "updated_at"})


async def list_empty(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.get("/v3/grants", params={"grant_status": "invalid", "offset": 10})


async def list_over_limit(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.get("/v3/grants", params={"limit": 201})


async def list_unauthorized(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    async with wrong_key(sim) as client:
        return await client.get("/v3/grants")


def get_case(provider: str) -> Case:
    async def run(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
        return await nylas.get(f"/v3/grants/{await create(nylas, provider)}")

    return Case("get_grant", 200, run)


async def get_expired(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    grant_id = await create(nylas)
    sim.expire_grant(grant_id)
    return await nylas.get(f"/v3/grants/{grant_id}")


async def get_unknown(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.get("/v3/grants/5967ca40-a2d8-4ee0-a0e0-6f18ace39a90")


async def get_unauthorized(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    async with wrong_key(sim) as client:
        return await client.get("/v3/grants/5967ca40-a2d8-4ee0-a0e0-6f18ace39a90")


async def update(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    grant_id = await create(nylas)
    body = {"settings": {"refresh_token": "rt-new", "credential_id": "cred-1"}, "scope": ["openid"]}
    return await nylas.patch(f"/v3/grants/{grant_id}", json=body)


async def update_imap(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    grant_id = await create(nylas, "imap")
    body = {"settings": {"imap_username": "jordan@example.net", "imap_password": "new"}}
    return await nylas.patch(f"/v3/grants/{grant_id}", json=body)


async def update_invalid(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    grant_id = await create(nylas)
    return await nylas.patch(f"/v3/grants/{grant_id}", json={"scope": "openid"})


async def update_unknown(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.patch("/v3/grants/no-such-grant", json={"scope": ["openid"]})


async def update_unauthorized(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    async with wrong_key(sim) as client:
        return await client.patch("/v3/grants/no-such-grant", json={"scope": ["openid"]})


async def delete(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    return await nylas.delete(f"/v3/grants/{await create(nylas)}")


async def delete_twice(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    grant_id = await create(nylas)
    await nylas.delete(f"/v3/grants/{grant_id}")
    return await nylas.delete(f"/v3/grants/{grant_id}")


async def delete_unauthorized(sim: NylasSimulator, nylas: httpx.AsyncClient) -> httpx.Response:
    async with wrong_key(sim) as client:
        return await client.delete("/v3/grants/no-such-grant")


CASES: dict[str, Case] = {
    **{f"connect_{provider}": connect_case(provider) for provider in CONNECT_BODIES},
    "connect_reauthentication": Case("connect_custom", 201, connect_again),
    "connect_missing_field": Case("connect_custom", 400, connect_missing_field),
    "connect_revoked_token": Case("connect_custom", 400, connect_revoked),
    "connect_no_connector": Case("connect_custom", 400, connect_no_connector),
    "connect_unauthorized": Case("connect_custom", 401, connect_unauthorized),
    "list_all_providers": Case("list_grants", 200, list_all),
    "list_empty": Case("list_grants", 200, list_empty),
    "list_over_limit": Case("list_grants", 400, list_over_limit),
    "list_unauthorized": Case("list_grants", 401, list_unauthorized),
    **{f"get_{provider}": get_case(provider) for provider in CONNECT_BODIES},
    "get_expired": Case("get_grant", 200, get_expired),
    "get_unknown": Case("get_grant", 404, get_unknown),
    "get_unauthorized": Case("get_grant", 401, get_unauthorized),
    "update": Case("update_grant", 200, update),
    "update_imap": Case("update_grant", 200, update_imap),
    "update_invalid": Case("update_grant", 400, update_invalid),
    "update_unknown": Case("update_grant", 404, update_unknown),
    "update_unauthorized": Case("update_grant", 401, update_unauthorized),
    "delete": Case("delete_grant", 200, delete),
    "delete_twice": Case("delete_grant", 404, delete_twice),
    "delete_unauthorized": Case("delete_grant", 401, delete_unauthorized),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_response_matches_contract(
    sim: NylasSimulator, nylas: httpx.AsyncClient, name: str
) -> None:
    case = CASES[name]

    response = await case.run(sim, nylas)

    assert response.status_code == case.status, response.text
    validate_response(case.operation, response.status_code, response.json())


@pytest.mark.parametrize(
    "operation", ["connect_custom", "list_grants", "get_grant", "update_grant", "delete_grant"]
)
async def test_rate_limited_matches_contract(operation: str) -> None:
    sim = NylasSimulator(api_keys=[API_KEY], rate_limit_per_second=1)
    requests: dict[str, tuple[str, str, dict[str, Any] | None]] = {
        "connect_custom": ("POST", "/v3/connect/custom", CONNECT_BODIES["google"]),
        "list_grants": ("GET", "/v3/grants", None),
        "get_grant": ("GET", "/v3/grants/some-id", None),
        "update_grant": ("PATCH", "/v3/grants/some-id", {"scope": []}),
        "delete_grant": ("DELETE", "/v3/grants/some-id", None),
    }
    method, path, body = requests[operation]
    headers = {"Authorization": f"Bearer {API_KEY}"}

    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        await client.request(method, path, json=body)
        response = await client.request(method, path, json=body)

    assert response.status_code == 429
    validate_response(operation, 429, response.json())


@pytest.mark.parametrize("status", [400, 401, 404, 429, 504])
async def test_fault_default_envelope_matches_contract(
    sim: NylasSimulator, nylas: httpx.AsyncClient, status: int
) -> None:
    sim.inject_fault(operation="get_grant", status=status)

    response = await nylas.get("/v3/grants/some-id")

    validate_response("get_grant", status, response.json())


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.status < 300])
async def test_received_requests_match_contract(
    sim: NylasSimulator, nylas: httpx.AsyncClient, name: str
) -> None:
    await CASES[name].run(sim, nylas)

    recorded = sim.recorded_requests()
    assert recorded
    for request in recorded:
        validate_request(request.operation, query=request.query, body=request.body)


async def test_camelcase_query_breaks_contract(
    sim: NylasSimulator, nylas: httpx.AsyncClient
) -> None:
    response = await nylas.get(
        "/v3/grants", params={"grantStatus": "invalid", "sortBy": "updated_at", "limit": 200}
    )
    request = sim.recorded_requests("list_grants")[-1]

    assert response.status_code == 200
    with pytest.raises(ContractViolation, match="grantStatus"):
        validate_request("list_grants", query=request.query, body=request.body)


async def test_string_port_breaks_contract(sim: NylasSimulator, nylas: httpx.AsyncClient) -> None:
    body = bodies.imap("jordan@example.net", "pw", imap_host="imap.example.net", imap_port="993")
    await nylas.post("/v3/connect/custom", json=body)
    request = sim.recorded_requests("connect_custom")[-1]

    with pytest.raises(ContractViolation, match="imap_port"):
        validate_request("connect_custom", body=request.body)
