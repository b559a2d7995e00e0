"""Liveness and readiness probes."""

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.secrets import RotatingSecret
from app.webhooks.secrets import WebhookSecrets

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)

# Kubernetes probes time out after one second by default, so the check must finish sooner.
_DATABASE_CHECK_TIMEOUT_SECONDS = 0.8


@router.get("/livez", operation_id="livez", summary="Liveness: the process is serving")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


async def _database_state(engine: AsyncEngine, expected_revision: str | None) -> str:
    """Return `ok`, `unreachable`, or `not_migrated` (schema not at the newest revision)."""
    try:
        async with asyncio.timeout(_DATABASE_CHECK_TIMEOUT_SECONDS):
            async with engine.connect() as connection:
                result = await connection.execute(text("SELECT version_num FROM alembic_version"))
                revision = result.scalar()
    except Exception as exc:  # any failure means "not ready"; the type is logged
        log.warning("readiness.database_unreachable", error_type=type(exc).__name__)
        return "unreachable"
    if revision != expected_revision:
        log.warning(
            "readiness.database_not_migrated", revision=revision, expected=expected_revision
        )
        return "not_migrated"
    return "ok"


def _api_key_check(api_key: RotatingSecret) -> dict[str, Any]:
    # The version and age only: the value never leaves the secret holder.
    return {
        "status": "stale" if api_key.stale else "ok",
        **api_key.status(),
    }


def _webhook_secret_check(secrets: WebhookSecrets | None) -> dict[str, Any]:
    if secrets is None:
        return {"status": "not_configured"}
    return {"status": "ok", **secrets.status()}


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: the database is reachable and the Nylas API key is loaded",
    responses={503: {"description": "Not ready; `checks` says which dependency failed."}},
)
async def readyz(request: Request) -> JSONResponse:
    """Report readiness, with the Nylas API key version in use.

    A database that cannot be reached, or whose schema is not at the newest migration (run
    `grant-broker migrate`), makes the replica unready (503). An API key not refreshed
    for longer than the configured maximum age is reported as `degraded` with status 200,
    because the last good key keeps working. Failing every replica at once during a Secret
    Manager outage would turn it into a full outage.
    """
    database = await _database_state(request.app.state.engine, request.app.state.schema_revision)
    database_ok = database == "ok"
    api_key_check = _api_key_check(request.app.state.nylas_api_key)
    checks: dict[str, Any] = {
        "database": database,
        "nylas_api_key": api_key_check,
        "caller_identity": request.app.state.authenticator.status(),
        "nylas_webhook_secret": _webhook_secret_check(request.app.state.webhook_secrets),
    }
    if not database_ok:
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
    status = "degraded" if api_key_check["status"] == "stale" else "ok"
    return JSONResponse({"status": status, "checks": checks}, status_code=200)
