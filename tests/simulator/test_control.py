"""The control API, as Python methods and over HTTP under /_simulator/."""

from typing import Any

import httpx
import pytest

from app.simulator import OPERATIONS, GrantNotFoundError, NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import API_KEY, BASE_URL

CANARY_TOKEN = "1//canary-control-token"
CANARY_PASSWORD = "canary-control-password"


async def create_grant(nylas: httpx.AsyncClient) -> str:
    response = await nylas.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
    grant_id: str = response.json()["data"]["id"]
    return grant_id


async def test_grants_is_a_copy(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)

    sim.grants[grant_id]["grant_status"] = "invalid"
    sim.grants.clear()

    assert sim.grants[grant_id]["grant_status"] == "valid"


async def test_grants_match_api(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)

    response = await nylas.get(f"/v3/grants/{grant_id}")

    assert sim.grants == {grant_id: response.json()["data"]}


async def test_delete_grant_is_final(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)

    sim.delete_grant(grant_id)
    lookup = await nylas.get(f"/v3/grants/{grant_id}")
    new_grant_id = await create_grant(nylas)

    assert lookup.status_code == 404
    assert new_grant_id != grant_id


@pytest.mark.parametrize("method", ["expire_grant", "delete_grant"])
def test_unknown_grant_raises(sim: NylasSimulator, method: str) -> None:
    with pytest.raises(GrantNotFoundError):
        getattr(sim, method)("no-such-grant")


def test_connector_unknown_provider(sim: NylasSimulator) -> None:
    with pytest.raises(ValueError, match="provider"):
        sim.remove_connector("exchange")


def test_connectors_default_to_all(sim: NylasSimulator) -> None:
    assert sim.connectors == {"google", "microsoft", "yahoo", "zoom", "imap", "icloud", "ews"}


def test_call_count_unknown_operation(sim: NylasSimulator) -> None:
    with pytest.raises(ValueError, match="operation"):
        sim.call_count("create_grant")


async def test_call_counts_per_operation(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    grant_id = await create_grant(nylas)
    await nylas.get(f"/v3/grants/{grant_id}")
    await nylas.get(f"/v3/grants/{grant_id}")
    await nylas.get("/v3/grants", headers={"Authorization": "Bearer wrong"})

    assert sim.call_counts() == {
        "connect_custom": 1,
        "get_grant": 2,
        "list_grants": 1,
        "update_grant": 0,
        "delete_grant": 0,
    }


async def test_reset_forgets_everything(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await create_grant(nylas)
    sim.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")
    sim.revoke_credential(provider="google", secret="rt-revoked")
    sim.remove_connector("imap")
    sim.inject_fault(operation="get_grant", status=500, times=None)

    sim.reset()

    assert sim.grants == {}
    assert sim.pending_faults() == []
    assert sim.call_counts() == dict.fromkeys(OPERATIONS, 0)
    assert sim.recorded_requests() == []
    assert "imap" in sim.connectors
    revoked = await nylas.post("/v3/connect/custom", json=bodies.google("rt-revoked"))
    assert revoked.status_code == 201
    unbound = await nylas.post("/v3/connect/custom", json=bodies.google("rt-alpha"))
    assert unbound.json()["data"]["email"] != "shared@example.com"


async def test_http_control_needs_no_api_key(control: httpx.AsyncClient) -> None:
    response = await control.get("/_simulator/calls")

    assert response.status_code == 200
    assert response.json() == {"counts": dict.fromkeys(OPERATIONS, 0)}


async def test_http_replace_api_keys(control: httpx.AsyncClient, sim: NylasSimulator) -> None:
    response = await control.put("/_simulator/api-keys", json={"api_keys": ["key-b"]})

    assert response.json() == {"accepted_api_keys": 1}
    assert "key-b" not in response.text
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL) as client:
        old = await client.get("/v3/grants", headers={"Authorization": f"Bearer {API_KEY}"})
        new = await client.get("/v3/grants", headers={"Authorization": "Bearer key-b"})
    assert old.status_code == 401
    assert new.status_code == 200


async def test_http_bind_credential(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    bound = await control.post(
        "/_simulator/credentials",
        json={"provider": "google", "secret": CANARY_TOKEN, "email": "shared@example.com"},
    )
    connected = await nylas.post("/v3/connect/custom", json=bodies.google(CANARY_TOKEN))

    assert bound.status_code == 201
    assert bound.json() == {"provider": "google", "email": "shared@example.com"}
    assert connected.json()["data"]["email"] == "shared@example.com"


async def test_http_bind_with_password(
    control: httpx.AsyncClient, nylas: httpx.AsyncClient
) -> None:
    await control.post(
        "/_simulator/credentials",
        json={
            "provider": "icloud",
            "secret": "kim@icloud.example",
            "email": "kim@icloud.example",
            "password": CANARY_PASSWORD,
        },
    )

    wrong = await nylas.post("/v3/connect/custom", json=bodies.icloud("kim@icloud.example", "x"))
    right = await nylas.post(
        "/v3/connect/custom", json=bodies.icloud("kim@icloud.example", CANARY_PASSWORD)
    )

    assert wrong.status_code == 400
    assert right.status_code == 201


async def test_http_revoke_credential(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    revoked = await control.post(
        "/_simulator/credentials/revoke", json={"provider": "google", "secret": CANARY_TOKEN}
    )
    connected = await nylas.post("/v3/connect/custom", json=bodies.google(CANARY_TOKEN))

    assert revoked.json() == {"provider": "google", "revoked": True}
    assert connected.json()["error"]["provider_error"] == {"error": "invalid_grant"}


async def test_http_list_grants(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await control.get("/_simulator/grants")

    assert [grant["id"] for grant in response.json()["data"]] == [grant_id]


async def test_http_expire_grant(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await control.post(f"/_simulator/grants/{grant_id}/expire")
    lookup = await nylas.get(f"/v3/grants/{grant_id}")

    assert response.json()["data"]["grant_status"] == "invalid"
    assert lookup.json()["data"]["grant_status"] == "invalid"


async def test_http_delete_grant(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    grant_id = await create_grant(nylas)

    response = await control.delete(f"/_simulator/grants/{grant_id}")
    lookup = await nylas.get(f"/v3/grants/{grant_id}")

    assert response.json() == {"deleted": grant_id}
    assert lookup.status_code == 404


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_http_unknown_grant(control: httpx.AsyncClient, method: str) -> None:
    path = "/_simulator/grants/no-such-grant" + ("/expire" if method == "POST" else "")

    response = await control.request(method, path)

    assert response.status_code == 404
    assert response.json() == {"error": "grant not found"}


async def test_http_connectors(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    removed = await control.delete("/_simulator/connectors/imap")
    rejected = await nylas.post("/v3/connect/custom", json=bodies.imap("j@example.net", "pw"))
    added = await control.put("/_simulator/connectors/imap")
    accepted = await nylas.post("/v3/connect/custom", json=bodies.imap("j@example.net", "pw"))

    assert "imap" not in removed.json()["data"]
    assert rejected.status_code == 400
    assert "imap" in added.json()["data"]
    assert accepted.status_code == 201


async def test_http_connector_unknown_provider(control: httpx.AsyncClient) -> None:
    response = await control.put("/_simulator/connectors/exchange")

    assert response.status_code == 400


async def test_http_inject_fault(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    injected = await control.post(
        "/_simulator/faults",
        json={
            "operation": "list_grants",
            "status": 502,
            "body": "<html>Bad Gateway</html>",
            "content_type": "text/html",
            "headers": {"Retry-After": "1"},
        },
    )
    faulted = await nylas.get("/v3/grants")
    recovered = await nylas.get("/v3/grants")

    assert injected.status_code == 201
    assert injected.json()["data"][0]["status"] == 502
    assert faulted.status_code == 502
    assert faulted.text == "<html>Bad Gateway</html>"
    assert faulted.headers["Retry-After"] == "1"
    assert recovered.status_code == 200


async def test_http_fault_json_body(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    await control.post(
        "/_simulator/faults",
        json={"operation": "get_grant", "status": 500, "body": {"error": "a string"}},
    )

    response = await nylas.get("/v3/grants/any-id")

    assert response.json() == {"error": "a string"}


async def test_http_fault_until_cleared(
    control: httpx.AsyncClient, nylas: httpx.AsyncClient
) -> None:
    await control.post("/_simulator/faults", json={"status": 503, "times": None})
    faulted = [(await nylas.get("/v3/grants")).status_code for _ in range(3)]

    cleared = await control.delete("/_simulator/faults")

    assert faulted == [503, 503, 503]
    assert cleared.json() == {"data": []}
    assert (await nylas.get("/v3/grants")).status_code == 200


async def test_http_clear_faults_of_one_operation(control: httpx.AsyncClient) -> None:
    await control.post("/_simulator/faults", json={"operation": "get_grant", "status": 503})
    await control.post("/_simulator/faults", json={"operation": "list_grants", "status": 503})

    response = await control.delete("/_simulator/faults", params={"operation": "get_grant"})

    assert [fault["operation"] for fault in response.json()["data"]] == ["list_grants"]


@pytest.mark.parametrize(
    ("fault", "fragment"),
    [
        ({"status": "502"}, "status"),
        ({"status": 502, "latency": "slow"}, "latency"),
        ({"reset": "yes"}, "reset"),
        ({"status": 502, "headers": {"Retry-After": 1}}, "headers"),
        ({"status": 502, "times": 1.5}, "times"),
        ({"status": 502, "retries": 3}, "retries"),
        ({"operation": "create_grant", "status": 502}, "operation"),
        ({"body": "no status"}, "status"),
    ],
)
async def test_http_inject_fault_invalid(
    control: httpx.AsyncClient, fault: dict[str, Any], fragment: str
) -> None:
    response = await control.post("/_simulator/faults", json=fault)

    assert response.status_code == 400
    assert fragment in response.json()["error"]


async def test_http_list_faults(control: httpx.AsyncClient) -> None:
    await control.post("/_simulator/faults", json={"operation": "get_grant", "latency": 0.5})

    response = await control.get("/_simulator/faults")

    assert response.json()["data"] == [
        {"operation": "get_grant", "status": None, "latency": 0.5, "reset": False, "times": 1}
    ]


async def test_http_calls_and_requests(
    control: httpx.AsyncClient, nylas: httpx.AsyncClient
) -> None:
    await nylas.post("/v3/connect/custom", json=bodies.google(CANARY_TOKEN))
    await nylas.get("/v3/grants", params={"limit": 5})

    calls = await control.get("/_simulator/calls")
    requests = await control.get("/_simulator/requests", params={"operation": "connect_custom"})

    assert calls.json()["counts"]["connect_custom"] == 1
    assert calls.json()["counts"]["list_grants"] == 1
    recorded = requests.json()["data"]
    assert [entry["operation"] for entry in recorded] == ["connect_custom"]
    assert recorded[0]["body"]["settings"] == {"refresh_token": "[redacted]"}
    assert CANARY_TOKEN not in requests.text


async def test_http_reset(control: httpx.AsyncClient, nylas: httpx.AsyncClient) -> None:
    await create_grant(nylas)

    response = await control.post("/_simulator/reset")
    grants = await control.get("/_simulator/grants")

    assert response.json() == {"reset": True}
    assert grants.json() == {"data": []}


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/_simulator/credentials", {"provider": "google", "email": "a@example.com"}, "secret"),
        (
            "/_simulator/credentials",
            {"provider": "google", "secret": 5, "email": "a@b.c"},
            "secret",
        ),
        ("/_simulator/credentials/revoke", {"secret": CANARY_TOKEN}, "provider"),
        (
            "/_simulator/credentials/revoke",
            {"provider": "gmail", "secret": CANARY_TOKEN},
            "provider",
        ),
        ("/_simulator/faults", ["not", "an", "object"], "JSON object"),
    ],
)
async def test_http_control_invalid_body(
    control: httpx.AsyncClient, path: str, body: object, fragment: str
) -> None:
    response = await control.post(path, json=body)

    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert CANARY_TOKEN not in response.text


async def test_http_api_keys_invalid(control: httpx.AsyncClient) -> None:
    response = await control.put("/_simulator/api-keys", json={"api_keys": "key-b"})

    assert response.status_code == 400
    assert "api_keys" in response.json()["error"]


async def test_http_control_unparseable_body(control: httpx.AsyncClient) -> None:
    response = await control.post("/_simulator/credentials", content=b"{not json")

    assert response.status_code == 400
    assert response.json() == {"error": "the request body must be a JSON object"}


async def test_http_control_unknown_route(control: httpx.AsyncClient) -> None:
    response = await control.get("/_simulator/nothing")

    assert response.status_code == 404
    assert response.json() == {"error": "Not Found"}
