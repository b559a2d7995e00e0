"""Each Nylas call site under each fault ends in its documented outcome, and nothing half-written.

After every cell the event feed must agree with the record: no event for a change that was not
stored, and the last event of the user describes the record as it is.
"""

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client
from app.simulator import NylasSimulator
from app.status.scheduler import run_sweep_once
from app.status.sweep import SweepFailed
from tests.conftest import TEST_API_KEY
from tests.reliability.matrix import EXPECTED, FAULTS, OPERATION, SITES, Outcome

USER = "u-matrix"
FIRST = "first@example.com"
SECOND = "second@example.com"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"

Cell = Callable[[httpx.AsyncClient, NylasSimulator, Settings, str], Awaitable[Outcome]]


def registration(mailbox: str, user_id: str = USER) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "provider": "google",
        "settings": {"refresh_token": f"sim:{mailbox}:1"},
    }


def grant_at_nylas(simulator: NylasSimulator, mailbox: str) -> str | None:
    """Return the id of the mailbox's grant at the simulator, or None."""
    for grant_id, grant in simulator.grants.items():
        if grant["email"] == mailbox:
            return grant_id
    return None


async def record_of(http: httpx.AsyncClient, user_id: str = USER) -> dict[str, Any] | None:
    response = await http.get(f"/v1/users/{user_id}/grant")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def register(http: httpx.AsyncClient, mailbox: str) -> str:
    """Register `mailbox` for the user without faults; return the grant id."""
    response = await http.post("/v1/grants", json=registration(mailbox))
    assert response.status_code in (200, 201), response.text
    grant_id: str = response.json()["grant_id"]
    return grant_id


def inject(simulator: NylasSimulator, site: str, fault: str) -> None:
    simulator.inject_fault(operation=OPERATION[site], times=None, **FAULTS[fault])


async def run_register(
    http: httpx.AsyncClient, simulator: NylasSimulator, settings: Settings, fault: str
) -> Outcome:
    inject(simulator, "register", fault)
    response = await http.post("/v1/grants", json=registration(FIRST))
    simulator.clear_faults()

    record = await record_of(http)
    grant_id = grant_at_nylas(simulator, FIRST)
    if grant_id is None:
        nylas = "no grant"
    else:
        nylas = "bound" if record is not None and record["grant_id"] == grant_id else "orphan"
    return Outcome(str(response.status_code), "bound" if record else "none", nylas)


async def run_offboard(
    http: httpx.AsyncClient, simulator: NylasSimulator, settings: Settings, fault: str
) -> Outcome:
    grant_id = await register(http, FIRST)

    inject(simulator, "offboard", fault)
    response = await http.delete(f"/v1/users/{USER}/grant")
    simulator.clear_faults()

    record = "kept" if await record_of(http) else "deleted"
    nylas = "kept" if grant_id in simulator.grants else "deleted"
    return Outcome(str(response.status_code), record, nylas)


async def run_replace(
    http: httpx.AsyncClient, simulator: NylasSimulator, settings: Settings, fault: str
) -> Outcome:
    old_grant_id = await register(http, FIRST)

    inject(simulator, "replace", fault)
    response = await http.post("/v1/grants", json=registration(SECOND))
    simulator.clear_faults()

    record = await record_of(http)
    replaced = record is not None and record["grant_id"] == grant_at_nylas(simulator, SECOND)
    nylas = "old kept" if old_grant_id in simulator.grants else "old deleted"
    return Outcome(str(response.status_code), "replaced" if replaced else "not replaced", nylas)


async def run_live_check(
    http: httpx.AsyncClient, simulator: NylasSimulator, settings: Settings, fault: str
) -> Outcome:
    grant_id = await register(http, FIRST)
    before = await record_of(http)
    at_nylas = simulator.grants[grant_id]

    inject(simulator, "live_check", fault)
    response = await http.get(f"/v1/users/{USER}/grant/status", params={"max_age": 0})
    simulator.clear_faults()

    after = await record_of(http)
    assert before is not None
    assert after is not None
    checked = after["status_checked_at"] != before["status_checked_at"]
    nylas = "unchanged" if simulator.grants.get(grant_id) == at_nylas else "changed"
    return Outcome(str(response.status_code), "checked" if checked else "unchanged", nylas)


async def run_sweep(
    http: httpx.AsyncClient, simulator: NylasSimulator, settings: Settings, fault: str
) -> Outcome:
    grant_id = await register(http, FIRST)
    simulator.expire_grant(grant_id)
    at_nylas = simulator.grants[grant_id]
    # Without a listing lag the sweep's observations are newer than the registration.
    sweep_settings = settings.model_copy(update={"sweep_listing_lag": 0.0})

    inject(simulator, "sweep", fault)
    status = await _sweep(sweep_settings, simulator)
    simulator.clear_faults()

    record = await record_of(http)
    assert record is not None
    invalidated = record["grant_status"] == "invalid"
    nylas = "unchanged" if simulator.grants.get(grant_id) == at_nylas else "changed"
    return Outcome(status, "invalidated" if invalidated else "unchanged", nylas)


async def _sweep(settings: Settings, simulator: NylasSimulator) -> str:
    async with create_http_client(settings, transport=simulator.transport()) as http:
        client = NylasClient(
            http,
            api_key=StaticApiKey(SecretStr(TEST_API_KEY)),
            retry=RetryPolicy.from_settings(settings),
        )
        try:
            await run_sweep_once(settings, full=True, nylas=client)
        except SweepFailed:
            return "failed"
    return "completed"


CELLS: dict[str, Cell] = {
    "register": run_register,
    "offboard": run_offboard,
    "replace": run_replace,
    "live_check": run_live_check,
    "sweep": run_sweep,
}


async def assert_events_match_record(http: httpx.AsyncClient) -> None:
    """Check that the user's events are in order and that the last one describes the record."""
    response = await http.get("/v1/events", params={"after": "0", "limit": 1000})
    events = [event for event in response.json()["items"] if event["user_id"] == USER]
    record = await record_of(http)

    ids = [event["id"] for event in events]
    assert ids == sorted(ids), "events out of order"
    if record is None:
        assert not events or events[-1]["type"] == "grant.deleted", "no record, yet no deletion"
        return
    assert events, "a record without a registration event"
    assert events[-1]["grant_id"] == record["grant_id"], "the last event names another grant"
    assert events[-1]["new_status"] == record["grant_status"], "the last event has another status"


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("site", SITES)
async def test_fault_cell(
    broker: httpx.AsyncClient,
    simulator: NylasSimulator,
    quick_settings: Settings,
    site: str,
    fault: str,
) -> None:
    outcome = await CELLS[site](broker, simulator, quick_settings, fault)

    assert outcome == EXPECTED[site][fault]
    await assert_events_match_record(broker)


async def test_register_timeout_orphan_bound_by_retry(
    broker: httpx.AsyncClient, simulator: NylasSimulator, quick_settings: Settings
) -> None:
    await run_register(broker, simulator, quick_settings, "timeout")
    orphan = grant_at_nylas(simulator, FIRST)

    response = await broker.post("/v1/grants", json=registration(FIRST))

    assert response.status_code == 201
    assert response.json()["grant_id"] == orphan


async def test_offboard_timeout_retry_completes(
    broker: httpx.AsyncClient, simulator: NylasSimulator, quick_settings: Settings
) -> None:
    await run_offboard(broker, simulator, quick_settings, "timeout")

    response = await broker.delete(f"/v1/users/{USER}/grant")

    assert response.status_code == 204
    assert await record_of(broker) is None
    await assert_events_match_record(broker)


@pytest.mark.parametrize(
    ("fault", "retry_after"), [("429_retry_after", "30"), ("429_no_retry_after", "1")]
)
async def test_rate_limit_retry_after_passed_on(
    broker: httpx.AsyncClient, simulator: NylasSimulator, fault: str, retry_after: str
) -> None:
    inject(simulator, "register", fault)

    response = await broker.post("/v1/grants", json=registration(FIRST))

    assert response.status_code == 503
    assert response.headers["retry-after"] == retry_after


def _documented_rows() -> dict[tuple[str, str], Outcome]:
    rows: dict[tuple[str, str], Outcome] = {}
    pattern = re.compile(r"^\| `(\w+)` \| `(\w+)` \| (\w+) \| ([\w ]+?) \| ([\w ]+?) \|")
    for line in DOCS.read_text().splitlines():
        match = pattern.match(line)
        if match:
            site, fault, status, record, nylas = match.groups()
            rows[(site, fault)] = Outcome(status, record, nylas)
    return rows


def test_matrix_documented() -> None:
    documented = _documented_rows()

    expected = {
        (site, fault): outcome
        for site, outcomes in EXPECTED.items()
        for fault, outcome in outcomes.items()
    }
    assert documented == expected
