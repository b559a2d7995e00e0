"""Liveness and readiness probes."""

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.auth import AuthMode
from app.core.config import Environment, Settings
from app.core.migrations import upgrade_database
from app.main import create_app


async def test_livez_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ok_with_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


# Only PostgreSQL: aiosqlite leaves the worker thread of a failed connection running, and it
# reports to the test's event loop after that loop has closed.
@pytest.mark.parametrize("url", ["postgresql+asyncpg://nobody@127.0.0.1:1/none"])
async def test_readyz_503_without_database(url: str) -> None:
    settings = Settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url=url,
        nylas_api_key=SecretStr("k"),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


async def test_readyz_503_when_not_migrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    await asyncio.to_thread(upgrade_database, url, "0001")
    settings = Settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url=url,
        nylas_api_key=SecretStr("k"),
        sweep_enabled=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "not_migrated"


async def test_database_down_is_503_problem() -> None:
    settings = Settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        nylas_api_key=SecretStr("k"),
        sweep_enabled=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            response = await client.get("/v1/users/u-1/grant")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "2"
