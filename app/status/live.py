"""Live status checks: ask Nylas about one grant when the stored status is too old."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.core.singleflight import SingleFlight
from app.grants.errors import GrantNotFound, problem_from_nylas
from app.grants.models import Grant, GrantStatus, StatusSource
from app.grants.repository import GrantRepository
from app.nylas.client import NylasClient
from app.nylas.errors import NylasError, NylasNotFound
from app.status.guard import MassInvalidationGuard
from app.status.service import Observation, StatusService

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Answer:
    status: GrantStatus | None  # None: the grant no longer exists at Nylas
    observed_at: datetime


class LiveChecker:
    """Answers status questions from the record when fresh enough, else from Nylas.

    Concurrent checks of one grant in this process share one Nylas call.
    """

    def __init__(self, nylas: NylasClient, guard: MassInvalidationGuard) -> None:
        self.nylas = nylas
        self.guard = guard
        self._flights: SingleFlight[_Answer] = SingleFlight()

    async def check(self, session: AsyncSession, user_id: str, *, max_age: float) -> Grant:
        grants = GrantRepository(session)
        grant = await grants.get_by_user(user_id)
        if grant is None:
            raise GrantNotFound(f"User {user_id!r} has no grant.")
        if utc_now() - grant.status_checked_at <= timedelta(seconds=max_age):
            return grant
        grant_id = grant.grant_id
        await session.rollback()

        answer = await self._flights.run(grant_id, lambda: self._ask_nylas(grant_id))

        observation = Observation(
            grant_id, answer.status, StatusSource.LIVE_CHECK, answer.observed_at
        )
        service = StatusService(session)
        changes = await service.apply([observation])
        await self.guard.check(session, changes)
        await session.rollback()

        refreshed = await grants.get_by_user(user_id)
        if refreshed is None:
            raise GrantNotFound(
                f"User {user_id!r} has no grant: it was deleted at Nylas. "
                "Obtain fresh credentials and register again."
            )
        return refreshed

    async def _ask_nylas(self, grant_id: str) -> _Answer:
        observed_at = utc_now()
        try:
            nylas_grant = await self.nylas.get_grant(grant_id)
        except NylasNotFound:
            return _Answer(None, observed_at)
        except NylasError as exc:
            log.warning(
                "grant.live_check_failed",
                grant_id=grant_id,
                error_type=type(exc).__name__,
                nylas_status=exc.status,
                nylas_request_id=exc.request_id,
            )
            raise problem_from_nylas(exc) from exc
        return _Answer(GrantStatus(nylas_grant.grant_status), observed_at)
