"""Reconciliation against the simulator, on SQLite and PostgreSQL."""

import json
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import utc_now
from app.events.models import EventType
from app.grants.models import GrantStatus, StatusSource
from app.reconcile.apply import delete_orphans
from app.reconcile.compare import ReconcileConfig, Reconciler
from app.reconcile.findings import FindingKind, render_table
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY
from tests.reconcile.conftest import (
    FAST_RATE,
    grant_ids_of,
    nylas_client,
    reconcile,
    stored_events,
    stored_grants,
)
from tests.status.seeding import seed_records, seed_simulator

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Seeded:
    """Grant ids of each kind of difference seeded into the simulator and the database."""

    in_step: list[str]
    old_orphans: list[str]
    recent_orphan: str
    dangling: list[str]
    expired_at_nylas: list[str]  # stored valid, invalid at Nylas
    valid_at_nylas: str  # stored invalid, valid at Nylas


async def _seed(
    simulator: NylasSimulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> Seeded:
    day_ago = utc_now() - DAY
    in_step = seed_simulator(simulator, 20, created_at=day_ago)
    await seed_records(sessionmaker, in_step, created_at=day_ago)

    old_orphans = seed_simulator(simulator, 2, created_at=day_ago, prefix="orphan")
    [recent_orphan] = seed_simulator(simulator, 1, created_at=utc_now(), prefix="recent")

    dangling = seed_simulator(simulator, 2, created_at=day_ago, prefix="gone")
    await seed_records(sessionmaker, dangling, created_at=day_ago, prefix="gone")
    for grant_id in dangling:
        simulator.delete_grant(grant_id)

    expired = in_step[:2]
    for grant_id in expired:
        simulator.expire_grant(grant_id)
    [valid] = seed_simulator(simulator, 1, created_at=day_ago, prefix="back")
    await seed_records(
        sessionmaker, [valid], created_at=day_ago, prefix="back", status=GrantStatus.INVALID
    )
    return Seeded(in_step[2:], old_orphans, recent_orphan, dangling, expired, valid)


async def test_in_step_reports_nothing(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    grant_ids = seed_simulator(fast_simulator, 30, created_at=utc_now() - DAY)
    await seed_records(sessionmaker, grant_ids, created_at=utc_now() - DAY)

    report = await reconcile(settings, fast_simulator)

    assert report.findings == []
    assert report.exit_status == 0
    assert report.nylas_grants == 30
    assert report.records == 30
    assert report.nylas_calls == 1


async def test_finds_every_kind_without_changes(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await _seed(fast_simulator, sessionmaker)
    grants_before = fast_simulator.grants
    stored_before = await stored_grants(sessionmaker)

    report = await reconcile(settings, fast_simulator)

    orphans = {f.grant_id: f for f in report.findings if f.kind is FindingKind.ORPHAN}
    assert set(orphans) == {*seeded.old_orphans, seeded.recent_orphan}
    assert orphans[seeded.recent_orphan].note is not None
    assert all(orphans[grant_id].note is None for grant_id in seeded.old_orphans)
    assert orphans[seeded.old_orphans[0]].email == "orphan-000000@example.com"
    assert grant_ids_of(report, FindingKind.DANGLING) == set(seeded.dangling)
    assert grant_ids_of(report, FindingKind.STATUS_MISMATCH) == {
        *seeded.expired_at_nylas,
        seeded.valid_at_nylas,
    }
    assert report.exit_status == 1
    assert all(finding.action is None for finding in report.findings)
    assert fast_simulator.grants == grants_before
    assert await stored_grants(sessionmaker) == stored_before
    assert await stored_events(sessionmaker) == []


async def test_apply_fixes_statuses_and_dangling(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await _seed(fast_simulator, sessionmaker)

    report = await reconcile(settings, fast_simulator, apply=True)

    stored = await stored_grants(sessionmaker)
    events = {(event.type, event.grant_id) for event in await stored_events(sessionmaker)}
    assert not set(seeded.dangling) & set(stored)
    assert {stored[grant_id].grant_status for grant_id in seeded.expired_at_nylas} == {
        GrantStatus.INVALID
    }
    assert stored[seeded.valid_at_nylas].grant_status == GrantStatus.VALID
    assert events == {
        *((EventType.INVALIDATED, grant_id) for grant_id in seeded.expired_at_nylas),
        (EventType.REVALIDATED, seeded.valid_at_nylas),
        *((EventType.DELETED, grant_id) for grant_id in seeded.dangling),
    }
    # Orphans are only reported: deleting them needs --delete-orphans.
    assert set(seeded.old_orphans) <= set(fast_simulator.grants)
    assert report.exit_status == 1

    again = await reconcile(settings, fast_simulator)

    assert {finding.kind for finding in again.findings} == {FindingKind.ORPHAN}


async def test_apply_records_reconcile_source(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await _seed(fast_simulator, sessionmaker)

    await reconcile(settings, fast_simulator, apply=True)

    stored = await stored_grants(sessionmaker)
    sources = {event.source for event in await stored_events(sessionmaker)}
    assert {stored[grant_id].status_source for grant_id in seeded.expired_at_nylas} == {
        StatusSource.RECONCILE
    }
    assert sources == {StatusSource.RECONCILE}


async def test_apply_keeps_newer_record_status(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Stored as invalid a moment ago: newer than the listing, which may lag by a minute.
    [grant_id] = seed_simulator(fast_simulator, 1, created_at=utc_now() - DAY)
    await seed_records(sessionmaker, [grant_id], created_at=utc_now(), status=GrantStatus.INVALID)

    report = await reconcile(settings, fast_simulator, apply=True)

    [finding] = report.findings
    assert finding.kind is FindingKind.STATUS_MISMATCH
    assert finding.action == "left alone: the record changed after Nylas was read"
    assert (await stored_grants(sessionmaker))[grant_id].grant_status == GrantStatus.INVALID


async def test_delete_orphans_spares_recent(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await _seed(fast_simulator, sessionmaker)

    report = await reconcile(settings, fast_simulator, apply=True, delete_orphans=True)

    actions = {f.grant_id: f.action for f in report.findings if f.kind is FindingKind.ORPHAN}
    assert not set(seeded.old_orphans) & set(fast_simulator.grants)
    assert seeded.recent_orphan in fast_simulator.grants
    assert actions == {
        **dict.fromkeys(seeded.old_orphans, "deleted at Nylas"),
        seeded.recent_orphan: "left alone",
    }
    # The recent orphan is still there, so the report does not say "in step".
    assert report.exit_status == 1


async def test_delete_orphan_bound_meanwhile_spared(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    [orphan] = seed_simulator(fast_simulator, 1, created_at=utc_now() - DAY)
    async with nylas_client(settings, fast_simulator) as nylas:
        reconciler = Reconciler(sessionmaker, nylas, ReconcileConfig(requests_per_second=FAST_RATE))
        report = await reconciler.compare()
        # A registration binds the grant after the listing was read.
        await seed_records(sessionmaker, [orphan], created_at=utc_now())

        await delete_orphans(report, sessionmaker, reconciler)

    [finding] = report.findings
    assert finding.action == "left alone: a user holds it now"
    assert orphan in fast_simulator.grants


async def test_listing_skip_confirmed_by_lookup(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    grant_ids = seed_simulator(fast_simulator, 30, created_at=utc_now() - DAY)
    await seed_records(sessionmaker, grant_ids, created_at=utc_now() - DAY)
    fast_simulator.delete_grant(grant_ids[-1])
    transport = DeleteAfterFirstPage(fast_simulator, grant_ids[0])

    async with nylas_client(settings, fast_simulator, transport) as nylas:
        config = ReconcileConfig(requests_per_second=FAST_RATE, page_size=10)
        report = await Reconciler(sessionmaker, nylas, config).compare()

    # Deleting grant 0 after page 1 shifted the offsets, so grant 10 was never listed; its
    # lookup shows that it exists. Grant 29 was deleted before: its lookup returns 404.
    # Grant 0 existed when its page was read, so this comparison cannot tell it is gone.
    assert grant_ids_of(report, FindingKind.DANGLING) == {grant_ids[-1]}
    assert report.findings[0].user_id == "user-000029"
    assert fast_simulator.call_count("get_grant") == 2
    assert report.nylas_grants == 29


async def test_mass_missing_not_looked_up(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Records of another Nylas application: none of them is in this application's listing.
    other = NylasSimulator(api_keys=[TEST_API_KEY])
    grant_ids = seed_simulator(other, 30, created_at=utc_now() - DAY)
    await seed_records(sessionmaker, grant_ids, created_at=utc_now() - DAY)

    report = await reconcile(settings, fast_simulator, apply=True)

    assert report.unconfirmed_missing == 30
    assert report.findings == []
    assert report.exit_status == 1
    assert fast_simulator.call_count("get_grant") == 0
    assert len(await stored_grants(sessionmaker)) == 30
    assert report.warnings[0].startswith("30 of 30 records are missing from the listing")


async def test_listing_paged_by_200(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    grant_ids = seed_simulator(fast_simulator, 450, created_at=utc_now() - DAY)
    await seed_records(sessionmaker, grant_ids, created_at=utc_now() - DAY)

    report = await reconcile(settings, fast_simulator)

    listings = fast_simulator.recorded_requests("list_grants")
    assert [request.query for request in listings] == [
        {"limit": "200", "offset": str(offset), "sort_by": "created_at", "order_by": "asc"}
        for offset in (0, 200, 400)
    ]
    assert report.nylas_calls == 3
    assert report.records == 450


async def test_report_table_and_json(
    settings: Settings,
    fast_simulator: NylasSimulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await _seed(fast_simulator, sessionmaker)

    report = await reconcile(settings, fast_simulator, apply=True)

    table = render_table(report)
    document = json.loads(json.dumps(report.to_json()))
    lines = table.splitlines()
    assert lines[0].startswith("reconcile: 24 grants at Nylas, 23 records, 3 Nylas calls in ")
    assert lines[1] == "orphans 3, dangling records 2, status mismatches 3"
    assert lines[3].split() == [
        "KIND",
        "GRANT",
        "ID",
        "USER",
        "ID",
        "PROVIDER",
        "STORED",
        "NYLAS",
        "ACTION",
    ]
    assert any(seeded.dangling[0] in line and "record removed" in line for line in lines)
    assert document["counts"] == {"orphan": 3, "dangling": 2, "status_mismatch": 3}
    assert document["applied"] is True
    assert {finding["kind"] for finding in document["findings"]} == {
        "orphan",
        "dangling",
        "status_mismatch",
    }
    assert set(document["findings"][0]) == {
        "kind",
        "grant_id",
        "user_id",
        "provider",
        "email",
        "stored_status",
        "nylas_status",
        "nylas_touched_at",
        "note",
        "action",
        "resolved",
    }


class DeleteAfterFirstPage(httpx.AsyncBaseTransport):
    """The simulator's transport; deletes one grant once the first listing page is served."""

    def __init__(self, simulator: NylasSimulator, grant_id: str) -> None:
        self._inner = simulator.transport()
        self._simulator = simulator
        self._grant_id = grant_id
        self._pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path == "/v3/grants":
            self._pages += 1
            if self._pages == 1:
                self._simulator.delete_grant(self._grant_id)
        return response
