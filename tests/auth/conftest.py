"""A tiny FastAPI app with `require(...)` routes, and auth settings to build it from.

The app has the service's real error handlers and request-context middleware, so responses
and log lines are those the service produces.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.auth import Authenticator, AuthMode, Caller, CallerDep, Permission, require
from app.core.errors import install_error_handlers
from app.core.logging import RequestContextMiddleware, configure_logging

BROKER = "spiffe://cluster.local/ns/grant-broker/sa/grant-broker"
BILLING = "spiffe://cluster.local/ns/billing/sa/billing-api"
OFFBOARDING = "spiffe://cluster.local/ns/ops/sa/offboarding"
MAINTENANCE = "spiffe://cluster.local/ns/ops/sa/maintenance"
STRANGER = "spiffe://cluster.local/ns/other/sa/stranger"

MESH_CALLERS = {
    BILLING: ["grants:register", "grants:read"],
    OFFBOARDING: ["grants:read", "grants:delete"],
    MAINTENANCE: ["admin"],
}
REQUEST_ID = "req-auth-1"


@dataclass(frozen=True)
class AuthTestSettings:
    """The fields of `app.core.config.Settings` that the auth package reads."""

    auth_mode: AuthMode = AuthMode.MESH
    callers: str | None = None
    callers_file: Path | None = None
    caller_tokens: SecretStr | None = None
    caller_tokens_secret: str | None = None
    caller_tokens_file: Path | None = None
    is_development: bool = False
    secret_refresh_interval: float = 300.0
    secret_max_age: float = 3600.0
    secret_rejection_refetch_interval: float = 30.0


def callers_json(callers: dict[str, list[str]]) -> str:
    return json.dumps(callers)


def build_app(authenticator: Authenticator | None) -> FastAPI:
    """Build an app with one route per permission, `/whoami` for any caller, and `/livez`."""
    configure_logging(level="DEBUG", json=True)
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    if authenticator is not None:
        app.state.authenticator = authenticator

    @app.get("/grants", dependencies=[require(Permission.GRANTS_READ)])
    async def list_grants() -> dict[str, str]:
        return {"status": "ok"}

    @app.delete("/grants")
    async def delete_grants(
        caller: Annotated[Caller, require(Permission.GRANTS_DELETE)],
    ) -> dict[str, str]:
        return {"principal": caller.principal}

    @app.get("/whoami")
    async def whoami(caller: CallerDep) -> dict[str, Any]:
        return {"principal": caller.principal, "permissions": sorted(caller.permissions)}

    @app.get("/admin")
    async def admin(caller: Annotated[Caller, require(Permission.ADMIN)]) -> dict[str, str]:
        return {"principal": caller.principal}

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def mesh_settings() -> AuthTestSettings:
    return AuthTestSettings(auth_mode=AuthMode.MESH, callers=callers_json(MESH_CALLERS))


ClientFactory = Callable[[Authenticator | None], httpx.AsyncClient]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Return a factory of HTTP clients for the tiny app with a given authenticator."""
    clients: list[httpx.AsyncClient] = []

    def make(authenticator: Authenticator | None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=build_app(authenticator))
        client = httpx.AsyncClient(
            transport=transport, base_url="http://broker.test", headers={"x-request-id": REQUEST_ID}
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def mesh_client(make_client: ClientFactory, mesh_settings: AuthTestSettings) -> httpx.AsyncClient:
    return make_client(Authenticator.from_settings(mesh_settings))


def xfcc(uri: str, *, by: str = BROKER) -> str:
    """Return the element Istio's inbound sidecar appends for a caller with SPIFFE ID `uri`."""
    return f'By={by};Hash=9b3c2a7f0d1e4c5b6a79880f1e2d3c4b5a69788f0e1d2c3b4a5968778f0e1d2c;Subject="";URI={uri}'
