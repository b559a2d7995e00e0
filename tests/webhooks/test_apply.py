"""Applying grant notifications: status changes, de-duplication, lookups and stale deliveries."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update
from sqlmodel import col

from app.core.database import utc_now
from app.events.models import EventType
from app.grants.models import Grant, GrantStatus, StatusSource
from app.nylas.client import NylasClient
from app.simulator import NylasSimulator
from app.status.guard import MassInvalidationGuard
from app.webhooks.models import WebhookDelivery
from app.webhooks.stats import WebhookStats
from tests.webhooks.conftest import (
    CREATED_ID_ONLY_BODY,
    CREATED_ID_ONLY_GRANT_ID,
    EXPIRED_BODY,
    EXPIRED_SIGNATURE,
    EXPIRED_TIME,
    deliver,
    delivery_ids,
    envelope,
    grant_events,
    seed_grant,
    sessions,
    stored_grant,
)

# After LONG_AGO, the status time of seeded grants.
SENT_AT = 1_739_300_000


async def _status(app: FastAPI, grant_id: str) -> GrantStatus | None:
    grant = await stored_grant(app, grant_id)
    return None if grant is None else GrantStatus(grant.grant_status)


async def _register_at_nylas(app: FastAPI, email: str) -> str:
    nylas: NylasClient = app.state.nylas
    result = await nylas.connect_custom(
        provider="google", settings={"refresh_token": f"sim:{email}:1"}
    )
    return result.grant.id


async def test_expired_case_marks_grant_invalid(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")

    response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    grant = await stored_grant(webhook_app, "grant-1")
    assert response.status_code == 200
    assert grant is not None
    assert grant.grant_status == GrantStatus.INVALID
    assert grant.status_source == StatusSource.WEBHOOK
    assert grant.status_checked_at == EXPIRED_TIME
    assert grant.status_changed_at == EXPIRED_TIME


async def test_expired_case_delivered_twice_records_once(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    await seed_grant(webhook_app, "grant-1")

    first = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)
    second = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    events = await grant_events(webhook_app)
    assert first.json() == {"status": "applied"}
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert [event.type for event in events] == [EventType.INVALIDATED]
    assert events[0].grant_id == "grant-1"
    assert events[0].source == "webhook"
    assert await delivery_ids(webhook_app) == ["evt-1"]
    assert stats.applied == 1
    assert stats.duplicates == 1


async def test_concurrent_duplicates_record_once(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")

    responses = await asyncio.gather(
        *(deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE) for _ in range(4))
    )

    assert sorted(response.json()["status"] for response in responses) == [
        "applied",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert len(await grant_events(webhook_app)) == 1


async def _reregister(app: FastAPI, grant_id: str) -> None:
    """Make the grant valid again as of now, as a re-registration does."""
    async with sessions(app)() as session, session.begin():
        statement = update(Grant).where(col(Grant.grant_id) == grant_id)
        await session.exec(
            statement.values(grant_status=GrantStatus.VALID, status_checked_at=utc_now())
        )


async def test_replay_after_dedupe_row_pruned_is_stale(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")
    await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)
    async with sessions(webhook_app)() as session, session.begin():
        await session.exec(delete(WebhookDelivery))
    await _reregister(webhook_app, "grant-1")

    replayed = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert replayed.json() == {"status": "applied"}
    assert await _status(webhook_app, "grant-1") == GrantStatus.VALID
    assert [event.type for event in await grant_events(webhook_app)] == [EventType.INVALIDATED]


async def test_late_expired_ignored_after_reregistration(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    registered_at = utc_now()
    await seed_grant(webhook_app, "grant-7", checked_at=registered_at)
    # Nylas can send grant.expired about ten minutes after the grant broke.
    sent = int((registered_at - timedelta(minutes=10)).timestamp())
    body = envelope("grant.expired", "grant-7", event_id="evt-late", time=sent, code=25009)

    response = await deliver(webhook_client, body)

    grant = await stored_grant(webhook_app, "grant-7")
    assert response.status_code == 200
    assert grant is not None
    assert grant.grant_status == GrantStatus.VALID
    assert grant.status_checked_at == registered_at
    assert await grant_events(webhook_app) == []


async def test_expired_from_future_dated_now(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-8")
    future = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())
    body = envelope("grant.expired", "grant-8", event_id="evt-future", time=future, code=25009)

    await deliver(webhook_client, body)

    grant = await stored_grant(webhook_app, "grant-8")
    assert grant is not None
    assert grant.grant_status == GrantStatus.INVALID
    assert grant.status_checked_at <= utc_now()


async def test_deleted_removes_grant(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-2")
    body = envelope(
        "grant.deleted", "grant-2", event_id="evt-del", time=SENT_AT, code=25013, provider="google"
    )

    response = await deliver(webhook_client, body)

    assert response.json() == {"status": "applied"}
    assert await stored_grant(webhook_app, "grant-2") is None
    assert [event.type for event in await grant_events(webhook_app)] == [EventType.DELETED]


@pytest.mark.parametrize(
    "fields",
    [{"reauthentication_flag": True, "code": 25014}, {"code": 25027}],
    ids=["flag", "code"],
)
async def test_updated_reauthentication_revalidates(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, fields: dict[str, object]
) -> None:
    await seed_grant(webhook_app, "grant-3", status=GrantStatus.INVALID)
    body = envelope("grant.updated", "grant-3", event_id="evt-upd", time=SENT_AT, **fields)

    await deliver(webhook_client, body)

    assert await _status(webhook_app, "grant-3") == GrantStatus.VALID
    assert [event.type for event in await grant_events(webhook_app)] == [EventType.REVALIDATED]


async def test_updated_without_reauthentication_ignored(
    webhook_app: FastAPI,
    webhook_client: httpx.AsyncClient,
    simulator: NylasSimulator,
    stats: WebhookStats,
) -> None:
    await seed_grant(webhook_app, "grant-4", status=GrantStatus.INVALID)
    body = envelope(
        "grant.updated",
        "grant-4",
        event_id="evt-upd",
        time=SENT_AT,
        code=25014,
        reauthentication_flag=False,
    )

    response = await deliver(webhook_client, body)

    assert response.json() == {"status": "ignored"}
    assert await _status(webhook_app, "grant-4") == GrantStatus.INVALID
    assert await delivery_ids(webhook_app) == []
    assert simulator.call_count("get_grant") == 0
    assert stats.ignored == 1


async def test_updated_without_flag_or_code_looks_up(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register_at_nylas(webhook_app, "carol@example.com")
    await seed_grant(webhook_app, grant_id, status=GrantStatus.INVALID)
    body = envelope("grant.updated", grant_id, event_id="evt-upd", time=SENT_AT, provider="google")

    await deliver(webhook_client, body)

    assert simulator.call_count("get_grant") == 1
    assert await _status(webhook_app, grant_id) == GrantStatus.VALID


async def test_created_case_looks_grant_up(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    # The simulator has no grant with this id, so Nylas returns 404: the grant is gone.
    await seed_grant(webhook_app, CREATED_ID_ONLY_GRANT_ID)

    response = await deliver(webhook_client, CREATED_ID_ONLY_BODY)

    assert response.status_code == 200
    assert simulator.call_count("get_grant") == 1
    assert await stored_grant(webhook_app, CREATED_ID_ONLY_GRANT_ID) is None
    assert [event.type for event in await grant_events(webhook_app)] == [EventType.DELETED]


async def test_created_id_only_uses_nylas_status(
    webhook_app: FastAPI,
    webhook_client: httpx.AsyncClient,
    simulator: NylasSimulator,
    stats: WebhookStats,
) -> None:
    grant_id = await _register_at_nylas(webhook_app, "alice@example.com")
    simulator.expire_grant(grant_id)
    await seed_grant(webhook_app, grant_id)
    body = envelope("grant.created", grant_id, event_id="evt-c", time=SENT_AT)

    await deliver(webhook_client, body)

    assert simulator.call_count("get_grant") == 1
    assert stats.lookups == 1
    assert await _status(webhook_app, grant_id) == GrantStatus.INVALID


async def test_created_full_payload_needs_no_lookup(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await seed_grant(webhook_app, "grant-5", status=GrantStatus.INVALID)
    body = envelope(
        "grant.created",
        "grant-5",
        event_id="evt-c",
        time=SENT_AT,
        code=25012,
        provider="google",
        email="bob@example.com",
    )

    await deliver(webhook_client, body)

    assert simulator.call_count("get_grant") == 0
    assert await _status(webhook_app, "grant-5") == GrantStatus.VALID


async def test_unknown_grant_counted(
    webhook_app: FastAPI,
    webhook_client: httpx.AsyncClient,
    simulator: NylasSimulator,
    stats: WebhookStats,
) -> None:
    response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert response.status_code == 200
    assert response.json() == {"status": "unknown_grant"}
    assert stats.unknown_grants == 1
    assert simulator.call_count("get_grant") == 0
    assert await delivery_ids(webhook_app) == []


async def test_other_type_ignored(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    await seed_grant(webhook_app, "grant-6")
    body = envelope("message.created", "grant-6", event_id="evt-m", time=SENT_AT)

    response = await deliver(webhook_client, body)

    assert response.json() == {"status": "ignored"}
    assert stats.ignored == 1
    assert await _status(webhook_app, "grant-6") == GrantStatus.VALID


async def test_mass_invalidation_guard_checked(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    guard = MassInvalidationGuard(share=0.5, window=900, min_grants=1)
    webhook_app.state.mass_invalidation_guard = guard
    await seed_grant(webhook_app, "grant-1")

    await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert set(guard.detections) == {"google"}
    assert guard.detections["google"].invalidated == 1


async def test_duplicate_needs_no_lookup(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await seed_grant(webhook_app, CREATED_ID_ONLY_GRANT_ID)
    await deliver(webhook_client, CREATED_ID_ONLY_BODY)
    # Held again, so only the delivery record can stop a second lookup.
    await seed_grant(webhook_app, CREATED_ID_ONLY_GRANT_ID)

    response = await deliver(webhook_client, CREATED_ID_ONLY_BODY)

    assert response.json() == {"status": "duplicate"}
    assert simulator.call_count("get_grant") == 1


async def test_reregistration_during_lookup_wins(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    grant_id = await _register_at_nylas(webhook_app, "erin@example.com")
    simulator.expire_grant(grant_id)
    await seed_grant(webhook_app, grant_id)
    body = envelope("grant.created", grant_id, event_id="evt-race", time=SENT_AT)
    simulator.inject_fault(operation="get_grant", latency=0.5)

    async def reregister_during_lookup() -> None:
        await asyncio.sleep(0.2)
        await _reregister(webhook_app, grant_id)

    response, _ = await asyncio.gather(deliver(webhook_client, body), reregister_during_lookup())

    assert response.json() == {"status": "applied"}
    assert await _status(webhook_app, grant_id) == GrantStatus.VALID
    assert await grant_events(webhook_app) == []
