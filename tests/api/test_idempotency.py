"""Idempotency-Key on registrations."""

import asyncio

import httpx

from app.simulator import NylasSimulator
from tests.api.test_register import google


async def test_repeat_replays_first_response(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    body = google("u-1", "sim:a@example.com:1")
    headers = {"Idempotency-Key": "key-1"}

    first = await client.post("/v1/grants", json=body, headers=headers)
    second = await client.post("/v1/grants", json=body, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["location"] == first.headers["location"]
    assert simulator.call_count("connect_custom") == 1


async def test_same_key_different_request_is_422(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "key-1"}
    await client.post("/v1/grants", json=google("u-1", "sim:a@example.com:1"), headers=headers)

    response = await client.post(
        "/v1/grants", json=google("u-2", "sim:a@example.com:1"), headers=headers
    )

    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")


async def test_concurrent_repeat_is_409(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(operation="connect_custom", latency=0.5, times=1)
    body = google("u-1", "sim:a@example.com:1")
    headers = {"Idempotency-Key": "key-1"}

    first_task = asyncio.create_task(client.post("/v1/grants", json=body, headers=headers))
    await asyncio.sleep(0.2)
    second = await client.post("/v1/grants", json=body, headers=headers)
    first = await first_task

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["type"].endswith("/idempotency-key-in-progress")


async def test_upstream_failure_frees_key_for_retry(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(operation="connect_custom", status=503, body="{}", times=3)
    body = google("u-1", "sim:a@example.com:1")
    headers = {"Idempotency-Key": "key-1"}

    failed = await client.post("/v1/grants", json=body, headers=headers)
    retried = await client.post("/v1/grants", json=body, headers=headers)

    assert failed.status_code == 503
    assert retried.status_code == 201


async def test_conflict_is_replayed(client: httpx.AsyncClient, simulator: NylasSimulator) -> None:
    simulator.bind_credential(provider="google", secret="rt-alpha", email="shared@example.com")
    simulator.bind_credential(provider="google", secret="rt-beta", email="shared@example.com")
    await client.post("/v1/grants", json=google("u-100", "rt-alpha"))
    headers = {"Idempotency-Key": "key-1"}

    first = await client.post("/v1/grants", json=google("u-200", "rt-beta"), headers=headers)
    second = await client.post("/v1/grants", json=google("u-200", "rt-beta"), headers=headers)

    assert first.status_code == 409
    assert second.status_code == 409
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["request_id"] == second.headers["x-request-id"]
    assert simulator.call_count("connect_custom") == 2


async def test_rejected_credentials_free_the_key(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    # The fingerprint leaves credentials out, so a retry with fresh ones must run again.
    simulator.revoke_credential(provider="google", secret="rt-revoked")
    headers = {"Idempotency-Key": "key-1"}

    first = await client.post("/v1/grants", json=google("u-1", "rt-revoked"), headers=headers)
    retry = await client.post(
        "/v1/grants", json=google("u-1", "sim:fresh@example.com:1"), headers=headers
    )

    assert first.status_code == 422
    assert retry.status_code == 201
    assert simulator.call_count("connect_custom") == 2
