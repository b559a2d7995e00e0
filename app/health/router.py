"""Liveness and readiness probes."""

import asyncio
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

router = APIRouter(tags=["health"])
log = structlog.get_logger(__name__)

# Kubernetes probes time out after a second by default; answer before that.
_DATABASE_CHECK_TIMEOUT_SECONDS = 0.8


@router.get("/livez", operation_id="livez", summary="Liveness: the process is serving")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


async def _database_ready(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(_DATABASE_CHECK_TIMEOUT_SECONDS):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; the type is logged
        log.warning("readiness.database_unreachable", error_type=type(exc).__name__)
        return False
    return True


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: the database is reachable",
    responses={503: {"description": "Not ready; `checks` says which dependency failed."}},
)
async def readyz(request: Request) -> JSONResponse:
    database_ok = await _database_ready(request.app.state.engine)
    checks: dict[str, Any] = {"database": "ok" if database_ok else "unreachable"}
    status_code = 200 if database_ok else 503
    body = {"status": "ok" if database_ok else "unavailable", "checks": checks}
    return JSONResponse(body, status_code=status_code)
