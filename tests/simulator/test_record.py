"""The request record and the log events: shapes kept, secrets left out.

In the record, secret settings are replaced by placeholders of the same JSON type.
"""

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from app.simulator import NylasSimulator
from tests.simulator import bodies

CANARY = "canary-record-5d1e"


async def recorded_body(nylas: httpx.AsyncClient, sim: NylasSimulator, body: object) -> Any:
    await nylas.post("/v3/connect/custom", json=body)
    return sim.recorded_requests("connect_custom")[-1].body


async def test_record_google_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    body = bodies.google(CANARY, scope=["openid"], state="s-1")
    body["settings"]["credential_id"] = "cred-1"

    recorded = await recorded_body(nylas, sim, body)

    assert recorded == {
        "provider": "google",
        "settings": {"refresh_token": "[redacted]", "credential_id": "cred-1"},
        "scope": ["openid"],
        "state": "s-1",
    }


async def test_record_imap_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    body = bodies.imap(
        f"{CANARY}@example.net",
        CANARY,
        imap_host="imap.example.net",
        imap_port="993",
        smtp_host="smtp.example.net",
        smtp_port=465,
        smtp_username=CANARY,
        smtp_password=CANARY,
    )

    recorded = await recorded_body(nylas, sim, body)

    assert recorded["settings"] == {
        "imap_username": "[redacted]",
        "imap_password": "[redacted]",
        "imap_host": "imap.example.net",
        "imap_port": "993",
        "smtp_host": "smtp.example.net",
        "smtp_port": 465,
        "smtp_username": "[redacted]",
        "smtp_password": "[redacted]",
    }


async def test_record_ews_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    body = bodies.ews(f"{CANARY}@corp.example", CANARY, CANARY, ews_host="ews.corp.example")

    recorded = await recorded_body(nylas, sim, body)

    assert recorded["settings"] == {
        "email": "[redacted]",
        "ews_username": "[redacted]",
        "ews_password": "[redacted]",
        "ews_host": "ews.corp.example",
    }


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [(12345, 0), (1.5, 0.0), (True, False), ([CANARY], []), ({"token": CANARY}, {}), (None, None)],
)
async def test_record_placeholder_keeps_type(
    nylas: httpx.AsyncClient, sim: NylasSimulator, value: object, placeholder: object
) -> None:
    recorded = await recorded_body(
        nylas, sim, {"provider": "google", "settings": {"refresh_token": value}}
    )

    assert recorded["settings"]["refresh_token"] == placeholder
    assert type(recorded["settings"]["refresh_token"]) is type(placeholder)


@pytest.mark.parametrize(("body", "placeholder"), [([CANARY], []), (CANARY, "[redacted]")])
async def test_record_non_object_body(
    nylas: httpx.AsyncClient, sim: NylasSimulator, body: object, placeholder: object
) -> None:
    assert await recorded_body(nylas, sim, body) == placeholder


async def test_record_unparseable_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await nylas.post("/v3/connect/custom", content=f'{{"token": "{CANARY}'.encode())

    assert sim.recorded_requests()[-1].body is None


async def test_record_update_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await nylas.patch("/v3/grants/any-id", json={"settings": {"refresh_token": CANARY}})

    recorded = sim.recorded_requests("update_grant")[-1]

    assert recorded.body == {"settings": {"refresh_token": "[redacted]"}}
    assert recorded.path == "/v3/grants/any-id"
    assert recorded.method == "PATCH"


async def test_record_query(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await nylas.get("/v3/grants", params={"grantStatus": "invalid", "limit": 200})

    recorded = sim.recorded_requests("list_grants")[-1]

    assert recorded.query == {"grantStatus": "invalid", "limit": "200"}
    assert recorded.body is None


async def test_record_request_id_matches(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    response = await nylas.get("/v3/grants")

    assert sim.recorded_requests()[-1].request_id == response.headers["X-Request-Id"]


async def test_record_order_and_filter(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await nylas.get("/v3/grants")
    await nylas.post("/v3/connect/custom", json=bodies.google("sim:a@example.com:1"))
    await nylas.get("/v3/grants/any-id")

    operations = [request.operation for request in sim.recorded_requests()]

    assert operations == ["list_grants", "connect_custom", "get_grant"]
    assert len(sim.recorded_requests("get_grant")) == 1


async def test_record_holds_no_canary(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    await nylas.post("/v3/connect/custom", json=bodies.google(CANARY))
    await nylas.post("/v3/connect/custom", json=bodies.icloud(f"{CANARY}@icloud.example", CANARY))
    await nylas.patch("/v3/grants/any-id", json={"settings": {"refresh_token": CANARY}})

    assert CANARY not in repr(sim.recorded_requests())


async def test_logs_hold_no_canary(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    with capture_logs() as events:
        await nylas.post("/v3/connect/custom", json=bodies.google(CANARY))
        await nylas.post("/v3/connect/custom", json=bodies.imap(f"{CANARY}@example.net", CANARY))
        sim.revoke_credential(provider="google", secret=CANARY)
        await nylas.post("/v3/connect/custom", json=bodies.google(CANARY))
        sim.accept_api_keys([CANARY])
        sim.inject_fault(operation="list_grants", status=500, body=CANARY)
        await nylas.get("/v3/grants", headers={"Authorization": f"Bearer {CANARY}"})

    assert {event["event"] for event in events} >= {
        "simulator.grant.created",
        "simulator.request.rejected",
        "simulator.fault.applied",
    }
    assert CANARY not in repr(events)
