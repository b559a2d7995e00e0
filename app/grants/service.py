"""Rules of the grants domain: register, look up, list and delete a user's grant."""

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.database import utc_now
from app.core.errors import UnprocessableError
from app.events.models import EventType
from app.events.service import EventRecorder
from app.grants.errors import GrantNotFound, MailboxHeldByAnotherUser, problem_from_nylas
from app.grants.models import Grant, GrantStatus, Provider, StatusSource
from app.grants.repository import GrantRepository
from app.grants.schemas import USER_ID_PATTERN, GrantRegistration
from app.nylas.client import NylasClient
from app.nylas.errors import NylasError, NylasNotFound
from app.nylas.models import NylasGrant

log = structlog.get_logger(__name__)

# The event source of a deletion requested by a caller (user offboarding).
OFFBOARDING_SOURCE = "offboarding"

# A registration that loses a race on the unique user or grant id re-reads and tries again once.
_MAX_STORE_ATTEMPTS = 2


@dataclass(frozen=True)
class RegistrationOutcome:
    grant: Grant
    created: bool
    replaced_grant_id: str | None = None


class GrantService:
    def __init__(self, session: AsyncSession, nylas: NylasClient, *, actor: str | None) -> None:
        self.session = session
        self.grants = GrantRepository(session)
        self.events = EventRecorder(session)
        self.nylas = nylas
        # The caller's principal, stored as `registered_by` and as each event's actor.
        self.actor = actor

    async def register(self, registration: GrantRegistration) -> RegistrationOutcome:
        """Mint (or re-authenticate) a grant at Nylas and bind it to the user.

        The credentials live only in `registration` and in the Nylas request; only the grant id
        and non-secret metadata are stored. A grant that replaces the user's previous one is
        committed first, and the previous grant is deleted at Nylas afterwards.
        """
        minted = await self._connect(registration)

        outcome = await self._store(registration.user_id, Provider(registration.provider), minted)

        if outcome.replaced_grant_id is not None:
            await self._delete_replaced_grant(outcome.replaced_grant_id, registration.user_id)
        log.info(
            "grant.registered",
            user_id=registration.user_id,
            grant_id=outcome.grant.grant_id,
            provider=registration.provider,
            created=outcome.created,
            replaced_grant_id=outcome.replaced_grant_id,
        )
        return outcome

    async def _connect(self, registration: GrantRegistration) -> NylasGrant:
        settings: dict[str, SecretStr | str | int] = {
            name: value
            for name, value in registration.settings.model_dump().items()
            if value is not None
        }
        try:
            result = await self.nylas.connect_custom(
                provider=registration.provider,
                settings=settings,
                scope=registration.scope,
                state=registration.state,
            )
        except NylasError as exc:
            log.warning(
                "grant.registration_failed",
                user_id=registration.user_id,
                provider=registration.provider,
                error_type=type(exc).__name__,
                nylas_status=exc.status,
                nylas_request_id=exc.request_id,
            )
            raise problem_from_nylas(exc) from exc
        return result.grant

    async def _store(
        self, user_id: str, provider: Provider, minted: NylasGrant
    ) -> RegistrationOutcome:
        for attempt in range(1, _MAX_STORE_ATTEMPTS + 1):
            try:
                async with self.session.begin():
                    return await self._bind(user_id, provider, minted)
            except IntegrityError:
                # A concurrent registration inserted the same user or grant id first; the next
                # attempt sees its row and decides again.
                log.info("grant.store_conflict", user_id=user_id, attempt=attempt)
        raise MailboxHeldByAnotherUser(_held_by_other_detail())

    async def _bind(
        self, user_id: str, provider: Provider, minted: NylasGrant
    ) -> RegistrationOutcome:
        holder = await self.grants.get_by_grant_id(minted.id)
        if holder is not None and holder.user_id != user_id:
            log.warning("grant.held_by_other_user", user_id=user_id, grant_id=minted.id)
            raise MailboxHeldByAnotherUser(_held_by_other_detail())

        current = await self.grants.get_by_user(user_id, for_update=True)
        if current is None:
            grant = _new_grant(user_id, provider, minted, actor=self.actor)
            self.grants.add(grant)
            await self.grants.flush()
            await self._record(EventType.REGISTERED, grant, old_status=None)
            return RegistrationOutcome(grant=grant, created=True)

        replaced = current.grant_id if current.grant_id != minted.id else None
        old_status = current.grant_status
        _apply_minted(current, provider, minted, actor=self.actor)
        await self.grants.flush()
        if replaced is None:
            await self._record(EventType.REAUTHENTICATED, current, old_status=old_status)
        else:
            await self._record(
                EventType.REPLACED, current, old_status=old_status, previous_grant_id=replaced
            )
        return RegistrationOutcome(grant=current, created=False, replaced_grant_id=replaced)

    async def _record(
        self,
        event_type: EventType,
        grant: Grant,
        *,
        old_status: str | None,
        previous_grant_id: str | None = None,
    ) -> None:
        await self.events.record(
            event_type,
            grant,
            source=StatusSource.REGISTRATION,
            old_status=old_status,
            new_status=grant.grant_status,
            actor=self.actor,
            previous_grant_id=previous_grant_id,
        )

    async def _delete_replaced_grant(self, grant_id: str, user_id: str) -> None:
        # The new grant is already committed, so a failure here leaves an orphan grant at Nylas
        # (found later by reconciliation), never a user without a grant.
        try:
            await self.nylas.delete_grant(grant_id)
        except NylasNotFound:
            pass
        except NylasError as exc:
            log.error(
                "grant.replaced_delete_failed",
                user_id=user_id,
                grant_id=grant_id,
                error_type=type(exc).__name__,
                nylas_status=exc.status,
                nylas_request_id=exc.request_id,
            )
            return
        log.info("grant.replaced_deleted", user_id=user_id, grant_id=grant_id)

    async def get_for_user(self, user_id: str) -> Grant:
        grant = await self.grants.get_by_user(user_id)
        if grant is None:
            raise GrantNotFound.for_user(user_id)
        return grant

    async def list_page(
        self,
        *,
        limit: int,
        cursor: str | None,
        grant_status: GrantStatus | None,
        provider: Provider | None,
    ) -> tuple[Sequence[Grant], str | None]:
        after_user_id = decode_cursor(cursor) if cursor else None
        # One extra row shows whether a next page exists, without a count query.
        rows = await self.grants.list_page(
            after_user_id=after_user_id,
            limit=limit + 1,
            grant_status=grant_status,
            provider=provider,
        )
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].user_id) if len(rows) > limit else None
        return page, next_cursor

    async def delete_for_user(self, user_id: str) -> None:
        """Delete the user's grant at Nylas, then the record (user offboarding)."""
        grant = await self.get_for_user(user_id)
        grant_id = grant.grant_id
        await self.session.rollback()

        await self._delete_at_nylas(grant_id, user_id)

        async with self.session.begin():
            current = await self.grants.get_by_user(user_id, for_update=True)
            if current is not None and current.grant_id == grant_id:
                await self.grants.delete(current)
                await self.events.record(
                    EventType.DELETED,
                    current,
                    source=OFFBOARDING_SOURCE,
                    old_status=current.grant_status,
                    new_status=None,
                    actor=self.actor,
                )
        log.info("grant.deleted", user_id=user_id, grant_id=grant_id)

    async def _delete_at_nylas(self, grant_id: str, user_id: str) -> None:
        try:
            await self.nylas.delete_grant(grant_id)
        except NylasNotFound:
            log.info("grant.already_deleted_at_nylas", user_id=user_id, grant_id=grant_id)
        except NylasError as exc:
            log.warning(
                "grant.delete_failed",
                user_id=user_id,
                grant_id=grant_id,
                error_type=type(exc).__name__,
                nylas_status=exc.status,
                nylas_request_id=exc.request_id,
            )
            raise problem_from_nylas(exc) from exc


def _held_by_other_detail() -> str:
    # The other user is not named: the caller may not be allowed to know who holds the mailbox.
    return (
        "Nylas returned a grant that another user already holds, because that user registered "
        "the same mailbox first. Delete that user's grant first, or register a different mailbox."
    )


def _storable(text: str | None, *, max_length: int) -> str | None:
    """Return `text` if every database can store it, else None.

    Values come from Nylas, which echoes what the provider or the credentials named. A NUL
    byte, a lone surrogate or a control character would make PostgreSQL reject the row after
    the grant was already minted.
    """
    if text is None or len(text) > max_length or not text.isprintable():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


def _storable_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if _storable(scope, max_length=512) is not None]


def _new_grant(user_id: str, provider: Provider, minted: NylasGrant, *, actor: str | None) -> Grant:
    now = utc_now()
    return Grant(
        user_id=user_id,
        grant_id=minted.id,
        provider=provider,
        email=_storable(minted.email, max_length=320),
        scopes=_storable_scopes(minted.scope),
        grant_status=GrantStatus(minted.grant_status),
        status_source=StatusSource.REGISTRATION,
        status_checked_at=now,
        status_changed_at=now,
        registered_by=actor,
        created_at=now,
        updated_at=now,
    )


def _apply_minted(
    grant: Grant, provider: Provider, minted: NylasGrant, *, actor: str | None
) -> None:
    now = utc_now()
    status = GrantStatus(minted.grant_status)
    if status != grant.grant_status or minted.id != grant.grant_id:
        grant.status_changed_at = now
    grant.grant_id = minted.id
    grant.provider = provider
    grant.email = _storable(minted.email, max_length=320)
    grant.scopes = _storable_scopes(minted.scope)
    grant.grant_status = status
    grant.status_source = StatusSource.REGISTRATION
    grant.status_checked_at = now
    grant.registered_by = actor
    grant.updated_at = now


def encode_cursor(user_id: str) -> str:
    payload = json.dumps({"after": user_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = payload["after"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise _invalid_cursor() from exc
    # A cursor is only ever made from a stored user id, so anything else was altered.
    if not isinstance(after, str) or not re.fullmatch(USER_ID_PATTERN, after):
        raise _invalid_cursor()
    return after


def _invalid_cursor() -> UnprocessableError:
    return UnprocessableError(
        "Invalid cursor: pass the next_cursor value of the previous page unchanged.",
        invalid_params=[{"name": "query.cursor", "reason": "not a cursor of this service"}],
    )
