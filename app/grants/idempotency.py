"""Idempotency keys for registrations.

A repeat of a registration with the same `Idempotency-Key` replays the first response; the same
key with a different request is rejected; a repeat while the first is still running gets a
conflict. The fingerprint that tells requests apart covers only non-secret fields, because
anything derived from a refresh token or password without a server-held key would let a reader
of the database test guesses. A repeat that differs only in its credentials therefore counts as
the same request; for that reason a registration whose credentials were rejected frees its key,
so a retry with fresh credentials runs again. Keys are scoped to the calling principal.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.core.errors import ConflictError, UnprocessableError
from app.grants.models import IdempotencyRecord, IdempotencyState
from app.grants.repository import IdempotencyRepository
from app.grants.schemas import GrantRegistration

log = structlog.get_logger(__name__)

# A claim left in progress longer than this belongs to a request that died, and a repeat takes
# it over. The lower bound leaves room for the database work around the Nylas call.
MIN_STALE_CLAIM_AFTER = timedelta(seconds=60)


def stale_claim_after(retry_budget: float) -> timedelta:
    """Return how long a claim may stay in progress: twice the Nylas retry budget, at least 60 s."""
    return max(MIN_STALE_CLAIM_AFTER, timedelta(seconds=2 * retry_budget))


class IdempotencyKeyReused(UnprocessableError):
    problem_type = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInProgress(ConflictError):
    problem_type = "idempotency-key-in-progress"
    title = "Request with this idempotency key in progress"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def scoped_key(principal: str, key: str) -> str:
    """Return the stored form of a caller's key: keys of different callers never collide."""
    return hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()


def fingerprint(registration: GrantRegistration) -> str:
    """Return a SHA-256 over the registration's non-secret fields."""
    # SecretStr values serialise as a fixed mask in JSON mode, so only their presence counts.
    public = registration.model_dump(mode="json")
    canonical = json.dumps(public, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(
        self,
        session: AsyncSession,
        *,
        ttl: timedelta,
        stale_after: timedelta = MIN_STALE_CLAIM_AFTER,
    ) -> None:
        self.session = session
        self.records = IdempotencyRepository(session)
        self.ttl = ttl
        self.stale_after = stale_after

    async def claim(self, key: str, request_fingerprint: str) -> StoredResponse | None:
        """Claim `key` for this request, or return the response stored for it.

        Raises IdempotencyKeyReused when the key belongs to a different request, and
        IdempotencyKeyInProgress while the first request with the key is still running.
        """
        try:
            async with self.session.begin():
                return await self._claim(key, request_fingerprint)
        except IntegrityError as exc:
            # Another request inserted the same key between our read and our insert.
            raise _in_progress() from exc

    async def _claim(self, key: str, request_fingerprint: str) -> StoredResponse | None:
        now = utc_now()
        await self.records.delete_expired(now)
        record = await self.records.get(key)

        if record is None:
            self.records.add(_new_claim(key, request_fingerprint, now, self.ttl))
            return None
        if record.request_fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used for a different request. "
                "Use a new key for a new request."
            )
        if record.state == IdempotencyState.COMPLETED and record.response_status is not None:
            return StoredResponse(status=record.response_status, body=record.response_body or {})
        if now - record.created_at < self.stale_after:
            raise _in_progress()

        log.warning("idempotency.stale_claim_taken_over", idempotency_key=key)
        record.created_at = now
        return None

    async def complete(self, key: str, response: StoredResponse) -> None:
        async with self.session.begin():
            record = await self.records.get(key)
            if record is None:
                return
            record.state = IdempotencyState.COMPLETED
            record.response_status = response.status
            record.response_body = response.body

    async def release(self, key: str) -> None:
        """Drop the claim so a retry with the same key runs the request again."""
        async with self.session.begin():
            record = await self.records.get(key)
            if record is not None and record.state == IdempotencyState.IN_PROGRESS:
                await self.records.delete(record)


def _in_progress() -> IdempotencyKeyInProgress:
    return IdempotencyKeyInProgress(
        "A request with this Idempotency-Key is still running. Retry after it finishes.",
        headers={"Retry-After": "1"},
    )


def _new_claim(key: str, request_fingerprint: str, now: Any, ttl: timedelta) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key,
        request_fingerprint=request_fingerprint,
        state=IdempotencyState.IN_PROGRESS,
        created_at=now,
        expires_at=now + ttl,
    )
