"""Detection of mass invalidation: many grants of one provider turning invalid at once.

Thousands of users do not revoke access in the same minutes. When a large share of one
provider's grants turns invalid within a short window, the cause is almost always on the
broker's side (an expired provider app secret or connector credential). The changes are still
applied; the detection is logged once per window as an error and kept for monitoring.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import utc_now
from app.events.models import EventType, GrantEvent
from app.grants.models import Grant
from app.status.service import StatusChange

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MassInvalidation:
    provider: str
    invalidated: int
    total: int
    window_seconds: float
    detected_at: datetime

    @property
    def share(self) -> float:
        return self.invalidated / self.total if self.total else 0.0


class MassInvalidationGuard:
    def __init__(self, *, share: float, window: float, min_grants: int) -> None:
        self.share = share
        self.window = timedelta(seconds=window)
        self.min_grants = min_grants
        # The latest detection per provider, for readiness details and metrics.
        self.detections: dict[str, MassInvalidation] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "MassInvalidationGuard":
        return cls(
            share=settings.mass_invalidation_share,
            window=settings.mass_invalidation_window,
            min_grants=settings.mass_invalidation_min_grants,
        )

    async def check(
        self, session: AsyncSession, changes: Sequence[StatusChange]
    ) -> list[MassInvalidation]:
        """Check every provider that just had grants invalidated; return new detections."""
        providers = sorted({c.provider for c in changes if c.event_type == EventType.INVALIDATED})
        found = []
        for provider in providers:
            detection = await self._check_provider(session, provider)
            if detection is not None:
                found.append(detection)
        return found

    async def _check_provider(
        self, session: AsyncSession, provider: str
    ) -> MassInvalidation | None:
        now = utc_now()
        previous = self.detections.get(provider)
        if previous is not None and now - previous.detected_at < self.window:
            return None  # already reported in this window

        total = await _count_grants(session, provider)
        if total < self.min_grants:
            return None
        invalidated = await _count_invalidations(session, provider, since=now - self.window)
        if invalidated / total < self.share:
            return None

        detection = MassInvalidation(provider, invalidated, total, self.window.total_seconds(), now)
        self.detections[provider] = detection
        log.error(
            "grant.mass_invalidation",
            provider=provider,
            invalidated=invalidated,
            total=total,
            share=round(detection.share, 3),
            window_seconds=detection.window_seconds,
            hint="check the provider connector and its app credentials in Nylas",
        )
        return detection


async def _count_grants(session: AsyncSession, provider: str) -> int:
    statement = select(func.count()).select_from(Grant).where(Grant.provider == provider)
    return int((await session.exec(statement)).one())


async def _count_invalidations(session: AsyncSession, provider: str, *, since: datetime) -> int:
    statement = (
        select(func.count())
        .select_from(GrantEvent)
        .where(GrantEvent.provider == provider)
        .where(GrantEvent.type == EventType.INVALIDATED)
        .where(col(GrantEvent.occurred_at) >= since)
    )
    return int((await session.exec(statement)).one())
