"""Injected faults, observed through `sim.transport()` with a real httpx.AsyncClient."""

import json
import time
from typing import Any

import httpx
import pytest

from app.simulator import NylasSimulator
from tests.simulator import bodies
from tests.simulator.conftest import BASE_URL

HTML_502 = (
    "<html><body><h1>502 Bad Gateway</h1>The upstream server is unavailable, "
    "please try again later.</body></html>"
)
ERROR_AS_STRING = {
    "request_id": "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
    "error": "internal failure while contacting provider",
}
RATE_LIMITED = {
    "request_id": "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918",
    "error": {
        "type": "nylas_rate_limit_exceeded",
        "message": "Too many requests, please try again shortly.",
    },
}


async def connect(nylas: httpx.AsyncClient, **kwargs: Any) -> httpx.Response:
    return await nylas.post(
        "/v3/connect/custom", json=bodies.google("sim:a@example.com:1"), **kwargs
    )


async def test_fault_default_envelope(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=503)

    response = await nylas.get("/v3/grants")

    assert response.status_code == 503
    assert response.json()["error"]["type"] == "service_unavailable"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


async def test_fault_html_502(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(
        operation="connect_custom", status=502, body=HTML_502, content_type="text/html"
    )

    response = await connect(nylas)

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == HTML_502
    assert sim.grants == {}


async def test_fault_error_as_string(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", status=500, body=ERROR_AS_STRING)

    response = await nylas.get("/v3/grants/any-id")

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == ERROR_AS_STRING


async def test_fault_body_without_error(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", status=500, body={"request_id": "r-1"})

    response = await nylas.get("/v3/grants/any-id")

    assert response.json() == {"request_id": "r-1"}


async def test_fault_json_array_body(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", status=500, body=["unexpected"])

    response = await nylas.get("/v3/grants/any-id")

    assert response.json() == ["unexpected"]


@pytest.mark.parametrize(
    ("body", "content_type"), [("{}", "application/json"), ("Bad Gateway", "text/plain")]
)
async def test_fault_raw_body_content_type(
    nylas: httpx.AsyncClient, sim: NylasSimulator, body: str, content_type: str
) -> None:
    sim.inject_fault(operation="list_grants", status=503, body=body)

    response = await nylas.get("/v3/grants")

    assert response.headers["Content-Type"].startswith(content_type)
    assert response.text == body


async def test_fault_retry_after_header(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(
        operation="connect_custom", status=429, body=RATE_LIMITED, headers={"Retry-After": "2"}
    )

    response = await connect(nylas)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == RATE_LIMITED


async def test_fault_latency_delays_response(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", latency=0.2)
    started = time.monotonic()

    response = await nylas.get("/v3/grants")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2


async def test_fault_latency_with_status(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=504, latency=0.1)
    started = time.monotonic()

    response = await nylas.get("/v3/grants")

    assert response.status_code == 504
    assert time.monotonic() - started >= 0.1


async def test_fault_latency_past_read_timeout(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    sim.inject_fault(operation="connect_custom", latency=5.0)
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        await connect(nylas, timeout=httpx.Timeout(5.0, read=0.1))

    assert time.monotonic() - started < 1.0
    # The request took effect before its response was delayed, as on a real network.
    assert len(sim.grants) == 1


async def test_retry_after_lost_response_same_grant(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    sim.inject_fault(operation="connect_custom", latency=5.0)
    with pytest.raises(httpx.ReadTimeout):
        await connect(nylas, timeout=httpx.Timeout(5.0, read=0.1))

    retried = await connect(nylas)

    assert list(sim.grants) == [retried.json()["data"]["id"]]


async def test_fault_reset_raises_read_error(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="connect_custom", reset=True)

    with pytest.raises(httpx.ReadError):
        await connect(nylas)

    assert sim.grants == {}


async def test_fault_reset_after_latency(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", reset=True, latency=0.1)
    started = time.monotonic()

    with pytest.raises(httpx.ReadError):
        await nylas.get("/v3/grants/any-id")

    assert time.monotonic() - started >= 0.1


async def test_fault_applies_times(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=503, times=2)

    statuses = [(await nylas.get("/v3/grants")).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]


async def test_fault_until_cleared(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=503, times=None)
    faulted = [(await nylas.get("/v3/grants")).status_code for _ in range(5)]

    sim.clear_faults()

    assert faulted == [503] * 5
    assert (await nylas.get("/v3/grants")).status_code == 200


async def test_fault_only_its_operation(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", status=503, times=None)

    listing = await nylas.get("/v3/grants")
    lookup = await nylas.get("/v3/grants/any-id")

    assert listing.status_code == 200
    assert lookup.status_code == 503


async def test_fault_all_operations(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="all", status=500, times=None)

    statuses = [
        (await connect(nylas)).status_code,
        (await nylas.get("/v3/grants")).status_code,
        (await nylas.get("/v3/grants/any-id")).status_code,
        (await nylas.patch("/v3/grants/any-id", json={})).status_code,
        (await nylas.delete("/v3/grants/any-id")).status_code,
    ]

    assert statuses == [500] * 5


async def test_faults_apply_in_injection_order(
    nylas: httpx.AsyncClient, sim: NylasSimulator
) -> None:
    sim.inject_fault(operation="list_grants", status=502)
    sim.inject_fault(operation="all", status=503)

    statuses = [(await nylas.get("/v3/grants")).status_code for _ in range(3)]

    assert statuses == [502, 503, 200]


async def test_clear_faults_of_one_operation(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=503, times=None)
    sim.inject_fault(operation="get_grant", status=503, times=None)

    sim.clear_faults("list_grants")

    assert (await nylas.get("/v3/grants")).status_code == 200
    assert (await nylas.get("/v3/grants/any-id")).status_code == 503


async def test_fault_precedes_api_key_check(sim: NylasSimulator) -> None:
    sim.inject_fault(operation="list_grants", status=502, body="Bad Gateway")

    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL) as client:
        response = await client.get("/v3/grants")

    assert response.status_code == 502


async def test_faulted_calls_are_counted(nylas: httpx.AsyncClient, sim: NylasSimulator) -> None:
    sim.inject_fault(operation="connect_custom", status=503, times=2)
    sim.inject_fault(operation="connect_custom", reset=True)

    for _ in range(2):
        await connect(nylas)
    with pytest.raises(httpx.ReadError):
        await connect(nylas)
    await connect(nylas)

    assert sim.call_count("connect_custom") == 4


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"operation": "create_grant", "status": 500}, "operation"),
        ({"status": 600}, "status"),
        ({"status": 500, "times": 0}, "times"),
        ({"latency": -1.0}, "latency"),
        ({"body": "oops"}, "status"),
        ({"reset": True, "status": 502}, "reset"),
        ({}, "status, a latency or reset"),
        ({"status": 500, "body": {"when": object()}}, "JSON-serialisable"),
    ],
)
def test_inject_fault_invalid(
    sim: NylasSimulator, arguments: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        sim.inject_fault(**arguments)

    assert sim.pending_faults() == []


async def test_pending_faults_described(sim: NylasSimulator) -> None:
    sim.inject_fault(operation="get_grant", status=429, headers={"Retry-After": "1"}, times=3)

    assert sim.pending_faults() == [
        {"operation": "get_grant", "status": 429, "latency": 0.0, "reset": False, "times": 3}
    ]
    assert json.dumps(sim.pending_faults())
