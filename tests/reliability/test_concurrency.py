"""Concurrent registrations: one consistent record, one consistent event history, no stealing."""

import asyncio
import itertools
from typing import Any

import httpx

from app.simulator import NylasSimulator
from tests.reliability.test_fault_matrix import grant_at_nylas, record_of, registration

PARALLEL = 100


async def user_events(http: httpx.AsyncClient, user_id: str) -> list[dict[str, Any]]:
    """Return the user's events from the feed, walking every page in feed order."""
    events: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        page = (await http.get("/v1/events", params={"after": cursor, "limit": 1000})).json()
        events += [event for event in page["items"] if event["user_id"] == user_id]
        if not page["items"]:
            return events
        cursor = page["next_cursor"]


async def register_all(
    http: httpx.AsyncClient, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    return list(await asyncio.gather(*(http.post("/v1/grants", json=body) for body in bodies)))


async def test_hundred_mailboxes_one_user(
    broker: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    bodies = [registration(f"box-{n}@example.com", "u-race") for n in range(PARALLEL)]

    responses = await register_all(broker, bodies)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (PARALLEL - 1) + [201]
    record = await record_of(broker, "u-race")
    assert record is not None
    events = await user_events(broker, "u-race")
    assert [event["type"] for event in events] == ["grant.registered"] + ["grant.replaced"] * (
        PARALLEL - 1
    )
    # Each replacement names the grant the previous event bound: one unbroken chain.
    for previous, event in itertools.pairwise(events):
        assert event["previous_grant_id"] == previous["grant_id"]
    assert events[-1]["grant_id"] == record["grant_id"]
    assert {event["grant_id"] for event in events} == {r.json()["grant_id"] for r in responses}
    # Every replaced grant was deleted at Nylas; only the bound one is left.
    assert set(simulator.grants) == {record["grant_id"]}


async def test_hundred_repeats_one_mailbox(
    broker: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    bodies = [registration("same@example.com", "u-repeat")] * PARALLEL

    responses = await register_all(broker, bodies)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * (PARALLEL - 1) + [201]
    record = await record_of(broker, "u-repeat")
    assert record is not None
    events = await user_events(broker, "u-repeat")
    expected_types = ["grant.registered"] + ["grant.reauthenticated"] * (PARALLEL - 1)
    assert [event["type"] for event in events] == expected_types
    assert {event["grant_id"] for event in events} == {record["grant_id"]}
    assert set(simulator.grants) == {record["grant_id"]}


async def test_shared_mailbox_race_one_holder(
    broker: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    half = PARALLEL // 2
    bodies = [registration("shared@example.com", "u-a")] * half
    bodies += [registration("shared@example.com", "u-b")] * half

    responses = await register_all(broker, bodies)

    holders = {
        user_id for user_id in ("u-a", "u-b") if await record_of(broker, user_id) is not None
    }
    assert len(holders) == 1
    loser = ({"u-a", "u-b"} - holders).pop()
    loser_statuses = {
        response.status_code
        for body, response in zip(bodies, responses, strict=True)
        if body["user_id"] == loser
    }
    assert loser_statuses == {409}
    assert await user_events(broker, loser) == []
    assert set(simulator.grants) == {grant_at_nylas(simulator, "shared@example.com")}


async def test_shared_mailbox_keeps_own_grant(
    broker: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await broker.post("/v1/grants", json=registration("a@example.com", "u-a"))
    await broker.post("/v1/grants", json=registration("b@example.com", "u-b"))
    holder_before = await record_of(broker, "u-a")
    own_before = await record_of(broker, "u-b")
    assert holder_before is not None
    assert own_before is not None

    bodies = [registration("a@example.com", "u-b")] * (PARALLEL // 5)
    responses = await register_all(broker, bodies)

    assert {response.status_code for response in responses} == {409}
    assert await record_of(broker, "u-a") == holder_before
    assert await record_of(broker, "u-b") == own_before
    # The grant u-b already held was not replaced, so it was not deleted at Nylas either.
    assert own_before["grant_id"] in simulator.grants
    assert [e["type"] for e in await user_events(broker, "u-b")] == ["grant.registered"]
