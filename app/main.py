"""Application factory: builds the FastAPI app and owns the lifetime of its clients."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from app.auth import Authenticator
from app.core.config import Settings, get_settings
from app.core.database import create_engine, create_sessionmaker
from app.core.errors import install_error_handlers
from app.core.limits import BodySizeLimitMiddleware
from app.core.logging import RequestContextMiddleware, configure_logging
from app.core.metrics import Metrics, MetricsMiddleware
from app.core.migrations import head_revision
from app.core.openapi import build_openapi
from app.core.tracing import create_tracer_provider, instrument_app, instrument_client
from app.docs import install_docs
from app.events.router import router as events_router
from app.grants.repository import GrantLookups
from app.grants.router import router as grants_router
from app.health.metrics import collect_component_metrics, collect_sweep_metrics
from app.health.metrics import router as metrics_router
from app.health.router import router as health_router
from app.nylas.client import NylasClient, RetryPolicy, create_http_client
from app.nylas.factory import build_nylas_api_key, secret_manager_for
from app.status.guard import MassInvalidationGuard
from app.status.live import LiveChecker
from app.status.router import router as status_router
from app.status.scheduler import SweepScheduler
from app.webhooks.router import WEBHOOK_PATH
from app.webhooks.router import router as webhooks_router
from app.webhooks.secrets import build_webhook_secrets
from app.webhooks.stats import WebhookStats

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Registers users' provider credentials (OAuth refresh tokens, IMAP, iCloud or EWS passwords)
with Nylas, stores only the resulting grant id with non-secret metadata, and serves grant
lookups. Credentials are discarded once Nylas has answered.

Every error is an RFC 9457 problem details document (`application/problem+json`).
"""

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


async def preflight(settings: Settings) -> None:
    """Load every secret and the caller configuration once, as the lifespan will.

    `grant-broker serve` calls this before starting the server, so that a configuration error
    ends the process with one clear message instead of a traceback from each worker. Raises
    SecretLoadError or AuthConfigError.
    """
    secret_manager = secret_manager_for(settings)
    try:
        await build_nylas_api_key(settings, secret_manager).load()
        await Authenticator.from_settings(settings, secret_manager=secret_manager).load()
        webhook_secrets = build_webhook_secrets(settings, secret_manager)
        if webhook_secrets is not None:
            await webhook_secrets.load()
    finally:
        if secret_manager is not None:
            secret_manager.close()


def _start_scheduler(app: FastAPI, settings: Settings) -> SweepScheduler | None:
    if not settings.sweep_enabled:
        return None
    scheduler = SweepScheduler(
        settings,
        sessionmaker=app.state.sessionmaker,
        nylas=app.state.nylas,
        guard=app.state.mass_invalidation_guard,
    )
    scheduler.start()
    app.state.sweep_scheduler = scheduler
    return scheduler


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _lifespan(
    settings: Settings,
    nylas_transport: httpx.AsyncBaseTransport | None,
    tracer_provider: TracerProvider | None,
) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret_manager = secret_manager_for(settings)
        api_key = build_nylas_api_key(settings, secret_manager)
        authenticator = Authenticator.from_settings(settings, secret_manager=secret_manager)
        webhook_secrets = build_webhook_secrets(settings, secret_manager)
        # These fail startup with a message naming the setting, the source and what went wrong.
        await api_key.load()
        await authenticator.load()
        if webhook_secrets is not None:
            await webhook_secrets.load()

        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        http = create_http_client(settings, transport=nylas_transport)
        if tracer_provider is not None:
            instrument_client(http, tracer_provider)
        app.state.settings = settings
        app.state.engine = engine
        app.state.schema_revision = head_revision()
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.grant_lookups = GrantLookups(engine, pool_size=settings.database_pool_size)
        app.state.nylas_api_key = api_key
        app.state.authenticator = authenticator
        # None when no webhook secret is configured: the webhook endpoint then returns 503.
        app.state.webhook_secrets = webhook_secrets
        app.state.webhook_stats = WebhookStats()
        app.state.nylas = NylasClient(
            http,
            api_key=api_key,
            retry=RetryPolicy.from_settings(settings),
            observer=app.state.metrics,
        )
        app.state.mass_invalidation_guard = MassInvalidationGuard.from_settings(settings)
        app.state.live_checker = LiveChecker(app.state.nylas, app.state.mass_invalidation_guard)
        background = [
            asyncio.create_task(api_key.run_refresh_loop(), name="api-key-refresh"),
            asyncio.create_task(authenticator.run_refresh_loop(), name="caller-token-refresh"),
        ]
        if webhook_secrets is not None:
            refresh = webhook_secrets.run_refresh_loop()
            background.append(asyncio.create_task(refresh, name="webhook-secret-refresh"))
        scheduler = _start_scheduler(app, settings)
        log.info(
            "app.started",
            env=settings.env,
            nylas_url=settings.nylas_base_url,
            nylas_api_key_version=api_key.version,
        )
        try:
            yield
        finally:
            # Sweeps stop first: they use the Nylas client and the engine closed below.
            if scheduler is not None:
                await scheduler.stop()
            for task in background:
                await _stop(task)
            await http.aclose()
            await engine.dispose()
            if secret_manager is not None:
                secret_manager.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()
            log.info("app.stopped")

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    nylas_transport: httpx.AsyncBaseTransport | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app. `nylas_transport` replaces the network, e.g. with the Nylas simulator.

    With `tracing_enabled`, spans go to `tracer_provider`, or to OTLP when none is given.
    """
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=_log_json(settings))
    if settings.tracing_enabled and tracer_provider is None:
        tracer_provider = create_tracer_provider()
    if not settings.tracing_enabled:
        tracer_provider = None
    app = FastAPI(
        title="grant-broker",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan(settings, nylas_transport, tracer_provider),
        # Served by app.docs from the service's own assets: the mesh often has no egress to a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.state.metrics = Metrics()
    app.state.metrics.add_collector(lambda: collect_component_metrics(app))
    app.state.metrics.add_collector(lambda: collect_sweep_metrics(app))
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_body_bytes,
        # The webhook endpoint reads up to 1 MiB and refuses more itself.
        exempt_prefixes=[WEBHOOK_PATH],
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(grants_router)
    app.include_router(status_router)
    app.include_router(events_router)
    app.include_router(webhooks_router)
    install_docs(app)
    if tracer_provider is not None:
        instrument_app(app, tracer_provider)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def _log_json(settings: Settings) -> bool:
    return settings.log_json if settings.log_json is not None else not settings.is_development
