"""Application factory: builds the FastAPI app and owns the lifetime of its clients."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI

from app.core.config import Settings, get_settings
from app.core.database import create_engine, create_sessionmaker
from app.core.errors import install_error_handlers
from app.core.logging import RequestContextMiddleware, configure_logging
from app.core.openapi import build_openapi
from app.grants.router import router as grants_router
from app.health.router import router as health_router
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Registers users' provider credentials (OAuth refresh tokens, IMAP, iCloud or EWS passwords)
with Nylas, stores only the resulting grant id with non-secret metadata, and serves grant
lookups. Credentials are discarded once Nylas has answered.

Every error is an RFC 9457 problem details document (`application/problem+json`).
"""


def _lifespan(settings: Settings, nylas_transport: httpx.AsyncBaseTransport | None):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        http = create_http_client(settings, transport=nylas_transport)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.nylas = NylasClient(
            http,
            api_key=StaticApiKey(settings.require_nylas_api_key()),
            retry=RetryPolicy.from_settings(settings),
        )
        log.info("app.started", env=settings.env, nylas_url=settings.nylas_base_url)
        try:
            yield
        finally:
            await http.aclose()
            await engine.dispose()
            log.info("app.stopped")

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    nylas_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the app. `nylas_transport` replaces the network, e.g. with the Nylas simulator."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, json=_log_json(settings))
    app = FastAPI(
        title="grant-broker",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan(settings, nylas_transport),
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(grants_router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def _log_json(settings: Settings) -> bool:
    return settings.log_json if settings.log_json is not None else not settings.is_development
