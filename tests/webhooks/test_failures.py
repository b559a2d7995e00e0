"""Deliveries that cannot be applied now: 503, nothing recorded, and a redelivery applies them."""

import io
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from app.events.models import EventType
from app.grants.models import GrantStatus
from app.nylas.client import NylasClient
from app.simulator import NylasSimulator
from app.status.guard import MassInvalidationGuard
from app.webhooks.envelope import parse_envelope
from app.webhooks.errors import WebhookUnavailable
from app.webhooks.service import WebhookService
from app.webhooks.stats import WebhookStats
from tests.webhooks.conftest import (
    EXPIRED_BODY,
    EXPIRED_SIGNATURE,
    deliver,
    delivery_ids,
    envelope,
    grant_events,
    seed_grant,
    sessions,
    stored_grant,
)

SENT_AT = 1_739_300_000


@contextmanager
def failing_statements(app: FastAPI, *fragments: str) -> Iterator[None]:
    """Make the database fail on every statement that contains all of `fragments`."""

    def fail(
        connection: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if all(fragment in statement.upper() for fragment in fragments):
            raise OperationalError(statement, parameters, Exception("disk I/O error"))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", fail)


def failing_event_insert(app: FastAPI) -> AbstractContextManager[None]:
    """Fail the grant event insert, which runs after the delivery row and the grant update were
    sent in the same transaction."""
    return failing_statements(app, "INSERT INTO GRANT_EVENTS")


async def _register_at_nylas(app: FastAPI, email: str) -> str:
    nylas: NylasClient = app.state.nylas
    result = await nylas.connect_custom(
        provider="google", settings={"refresh_token": f"sim:{email}:1"}
    )
    return result.grant.id


async def test_database_failure_leaves_nothing(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    await seed_grant(webhook_app, "grant-1")

    with failing_event_insert(webhook_app):
        response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    grant = await stored_grant(webhook_app, "grant-1")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert grant is not None
    assert grant.grant_status == GrantStatus.VALID
    assert await delivery_ids(webhook_app) == []
    assert await grant_events(webhook_app) == []
    assert stats.database_failures == 1


async def test_redelivery_after_database_failure_applies(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")
    with failing_event_insert(webhook_app):
        await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    grant = await stored_grant(webhook_app, "grant-1")
    assert response.json() == {"status": "applied"}
    assert grant is not None
    assert grant.grant_status == GrantStatus.INVALID
    assert [event.type for event in await grant_events(webhook_app)] == [EventType.INVALIDATED]
    assert await delivery_ids(webhook_app) == ["evt-1"]


async def test_lookup_failure_is_503_then_applies(
    webhook_app: FastAPI,
    webhook_client: httpx.AsyncClient,
    simulator: NylasSimulator,
    stats: WebhookStats,
) -> None:
    grant_id = await _register_at_nylas(webhook_app, "dave@example.com")
    simulator.expire_grant(grant_id)
    await seed_grant(webhook_app, grant_id)
    body = envelope("grant.created", grant_id, event_id="evt-c", time=SENT_AT)
    simulator.inject_fault(operation="get_grant", status=503, times=None)

    failed = await deliver(webhook_client, body)
    simulator.clear_faults()
    redelivered = await deliver(webhook_client, body)

    grant = await stored_grant(webhook_app, grant_id)
    assert failed.status_code == 503
    assert stats.lookup_failures == 1
    assert redelivered.json() == {"status": "applied"}
    assert grant is not None
    assert grant.grant_status == GrantStatus.INVALID


async def test_lookup_failure_records_nothing(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    await seed_grant(webhook_app, "grant-9")
    body = envelope("grant.updated", "grant-9", event_id="evt-u", time=SENT_AT)
    simulator.inject_fault(operation="get_grant", status=500, times=None)

    response = await deliver(webhook_client, body)

    assert response.status_code == 503
    assert await delivery_ids(webhook_app) == []
    assert await grant_events(webhook_app) == []


async def test_lookup_bounded_by_timeout(
    webhook_app: FastAPI, simulator: NylasSimulator, stats: WebhookStats
) -> None:
    await seed_grant(webhook_app, "grant-10")
    body = envelope("grant.created", "grant-10", event_id="evt-slow", time=SENT_AT)
    simulator.inject_fault(operation="get_grant", latency=5.0, times=None)

    async with sessions(webhook_app)() as session:
        service = WebhookService(
            session,
            nylas=webhook_app.state.nylas,
            guard=MassInvalidationGuard(share=0.5, window=900, min_grants=20),
            stats=stats,
            lookup_timeout=0.2,
        )
        with pytest.raises(WebhookUnavailable):
            await service.handle(parse_envelope(body))

    assert stats.lookup_failures == 1
    assert await delivery_ids(webhook_app) == []


async def test_guard_failure_still_acknowledged(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await seed_grant(webhook_app, "grant-1")

    # Only the mass invalidation check counts grants.
    with failing_statements(webhook_app, "COUNT(", "FROM GRANTS"):
        response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert response.json() == {"status": "applied"}
    assert await delivery_ids(webhook_app) == ["evt-1"]
    assert len(await grant_events(webhook_app)) == 1
    assert "webhook.guard_check_failed" in log_output.getvalue()
