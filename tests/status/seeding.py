"""Fill the simulator's grant store and the `grants` table directly, for sweeps of many grants.

Registering 10,000 grants through the API would take minutes; writing them straight into both
stores takes well under a second and leaves them exactly as registrations would.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.grants.models import Grant, GrantStatus
from app.simulator import NylasSimulator
from app.simulator.grants import Authentication, GrantStore

# Rows per INSERT statement, well below SQLite's and asyncpg's limits on bound parameters.
_INSERT_BATCH_SIZE = 1_000


def grant_store(simulator: NylasSimulator) -> GrantStore:
    """Return the store behind the simulator's routes (the simulator has no bulk API)."""
    return simulator._state.grants


def user_id(index: int, prefix: str = "user") -> str:
    return f"{prefix}-{index:06d}"


def seed_simulator(
    simulator: NylasSimulator,
    count: int,
    *,
    created_at: datetime,
    prefix: str = "user",
    provider: str = "google",
) -> list[str]:
    """Create `count` grants at the simulator, created at `created_at`; return their ids."""
    store = grant_store(simulator)
    grant_ids = []
    for index in range(count):
        login = Authentication(
            provider=provider,
            email=f"{user_id(index, prefix)}@example.com",
            scope=("openid",),
            state=None,
            settings={},
            ip=None,
            user_agent=None,
        )
        grant, _ = store.authenticate(login, int(created_at.timestamp()))
        grant_ids.append(grant.id)
    return grant_ids


async def seed_records(
    sessionmaker: async_sessionmaker[AsyncSession],
    grant_ids: Sequence[str],
    *,
    created_at: datetime,
    prefix: str = "user",
    provider: str = "google",
    status: GrantStatus = GrantStatus.VALID,
) -> None:
    """Store one record per grant id, for users `<prefix>-000000` onwards, as of `created_at`."""
    rows = [
        _record(user_id(index, prefix), grant_id, provider, status, created_at)
        for index, grant_id in enumerate(grant_ids)
    ]
    async with sessionmaker() as session, session.begin():
        connection = await session.connection()
        for start in range(0, len(rows), _INSERT_BATCH_SIZE):
            await connection.execute(insert(Grant), rows[start : start + _INSERT_BATCH_SIZE])


def _record(
    user: str, grant_id: str, provider: str, status: GrantStatus, created_at: datetime
) -> dict[str, Any]:
    return {
        "user_id": user,
        "grant_id": grant_id,
        "provider": provider,
        "email": f"{user}@example.com",
        "scopes": ["openid"],
        "grant_status": status,
        "status_source": "registration",
        "status_checked_at": created_at,
        "status_changed_at": created_at,
        "created_at": created_at,
        "updated_at": created_at,
    }
