"""Fixtures and helpers for the webhook tests: the broker app with its webhook state, signed
deliveries, and direct access to the grant, event and delivery tables."""

import gzip
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.events.models import GrantEvent
from app.grants.models import Grant, GrantStatus, Provider, StatusSource
from app.main import create_app
from app.simulator import NylasSimulator
from app.status.guard import MassInvalidationGuard
from app.webhooks.models import WebhookDelivery
from app.webhooks.router import router as webhooks_router
from app.webhooks.secrets import WebhookSecrets, build_webhook_secrets
from app.webhooks.stats import WebhookStats

WEBHOOK_PATH = "/v1/nylas/webhooks"

# A signed `grant.expired` delivery: the exact bytes Nylas would send, and the lower-case hex
# HMAC-SHA256 of them under CASE_SECRET.
CASE_SECRET = "41dD3-nXTUfebYuk81Gr"
EXPIRED_BODY = (
    b'{"specversion":"1.0","type":"grant.expired","source":"/nylas/system","id":"evt-1",'
    b'"time":1739223251,"webhook_delivery_attempt":1,"data":{"application_id":"app-1",'
    b'"object":{"code":25009,"grant_id":"grant-1","integration_id":"int-1","provider":"google",'
    b'"email":"user@example.com","grant_updated_at":1734200000}}}'
)
EXPIRED_SIGNATURE = "2f5e6f58e9f0e4680f89304be6f93a861a1726fcbb07d01d70c79a5261770ed2"
EXPIRED_TIME = datetime.fromtimestamp(1739223251, UTC)

# A `grant.created` delivery whose `data.object` carries only the grant id.
CREATED_ID_ONLY_GRANT_ID = "6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d"
CREATED_ID_ONLY_BODY = (
    b'{"specversion":"1.0","type":"grant.created","source":"/nylas/system","id":"evt-2",'
    b'"time":1764806400,"webhook_delivery_attempt":1,"data":{"application_id":"app-1",'
    b'"object":{"grant_id":"6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d"}}}'
)

# Before both deliveries above, so that their observations are newer than the stored status.
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def sign(body: bytes, secret: str = CASE_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(
    event_type: str, grant_id: str, *, event_id: str, time: int, **object_fields: Any
) -> bytes:
    """Encode a delivery as Nylas does: compact JSON, `data.object` with the given fields."""
    body = {
        "specversion": "1.0",
        "type": event_type,
        "source": "/nylas/system",
        "id": event_id,
        "time": time,
        "webhook_delivery_attempt": 1,
        "data": {"application_id": "app-1", "object": {"grant_id": grant_id, **object_fields}},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, mtime=0)


async def deliver(
    client: httpx.AsyncClient,
    body: bytes,
    *,
    signature: str | None = None,
    secret: str = CASE_SECRET,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `body` signed with `secret`, or with `signature` when given."""
    sent_headers = {
        "Content-Type": "application/json",
        "X-Nylas-Signature": signature if signature is not None else sign(body, secret),
        **(headers or {}),
    }
    return await client.post(WEBHOOK_PATH, content=body, headers=sent_headers)


def webhook_secrets(settings: Settings, value: str) -> WebhookSecrets:
    built = build_webhook_secrets(
        settings.model_copy(update={"nylas_webhook_secret": SecretStr(value)}), None
    )
    assert built is not None
    return built


def install_webhooks(app: FastAPI) -> None:
    """Include the webhook router unless `create_app` already does."""
    if not any(getattr(route, "path", None) == WEBHOOK_PATH for route in app.routes):
        app.include_router(webhooks_router)


@pytest.fixture
async def webhook_app(settings: Settings, simulator: NylasSimulator) -> AsyncIterator[FastAPI]:
    """The broker app with the webhook router and the state its lifespan provides for it.

    The webhook state is set here after startup, replacing whatever the lifespan built, so each
    test controls the secrets, the counters and the guard.
    """
    app = create_app(settings, nylas_transport=simulator.transport())
    install_webhooks(app)
    async with app.router.lifespan_context(app):
        secrets = webhook_secrets(settings, CASE_SECRET)
        await secrets.load()
        app.state.webhook_secrets = secrets
        app.state.webhook_stats = WebhookStats()
        app.state.mass_invalidation_guard = MassInvalidationGuard(
            share=settings.mass_invalidation_share,
            window=settings.mass_invalidation_window,
            min_grants=settings.mass_invalidation_min_grants,
        )
        yield app


@pytest.fixture
async def webhook_client(webhook_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=webhook_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
        yield http


@pytest.fixture
def stats(webhook_app: FastAPI) -> WebhookStats:
    current: WebhookStats = webhook_app.state.webhook_stats
    return current


def sessions(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return sessionmaker


async def seed_grant(
    app: FastAPI,
    grant_id: str,
    *,
    status: GrantStatus = GrantStatus.VALID,
    checked_at: datetime = LONG_AGO,
    provider: Provider = Provider.GOOGLE,
    user_id: str | None = None,
) -> None:
    """Store a grant as a registration at `checked_at` would have left it."""
    grant = Grant(
        user_id=user_id or f"user-{grant_id}",
        grant_id=grant_id,
        provider=provider,
        email=None,
        scopes=[],
        grant_status=status,
        status_source=StatusSource.REGISTRATION,
        status_checked_at=checked_at,
        status_changed_at=checked_at,
    )
    async with sessions(app)() as session, session.begin():
        session.add(grant)


async def stored_grant(app: FastAPI, grant_id: str) -> Grant | None:
    async with sessions(app)() as session:
        statement = select(Grant).where(Grant.grant_id == grant_id)
        return (await session.exec(statement)).first()


async def grant_events(app: FastAPI) -> Sequence[GrantEvent]:
    async with sessions(app)() as session:
        return (await session.exec(select(GrantEvent).order_by(col(GrantEvent.id)))).all()


async def delivery_ids(app: FastAPI) -> list[str]:
    async with sessions(app)() as session:
        rows = (await session.exec(select(WebhookDelivery))).all()
        return sorted(row.id for row in rows)
