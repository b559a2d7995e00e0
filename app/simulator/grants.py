"""The simulator's grants: at most one per mailbox, rendered as Nylas grant objects."""

import itertools
import uuid
from dataclasses import dataclass, field

from app.simulator.providers import PROVIDERS_WITHOUT_SCOPE
from app.simulator.validation import ListQuery


class GrantNotFoundError(LookupError):
    """No grant has this id, or it was deleted."""


@dataclass
class GrantRecord:
    """A grant as the simulator stores it. `settings` contains no secret."""

    id: str
    provider: str
    email: str
    scope: tuple[str, ...]
    created_at: int
    updated_at: int
    # Creation order, which breaks ties between grants created in the same second.
    sequence: int
    grant_status: str = "valid"
    state: str | None = None
    settings: dict[str, str | int] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None

    def to_json(self) -> dict[str, object]:
        """Render the grant as Nylas does, without `scope` for IMAP and iCloud grants."""
        grant: dict[str, object] = {
            "id": self.id,
            "provider": self.provider,
            "grant_status": self.grant_status,
            "email": self.email,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.provider not in PROVIDERS_WITHOUT_SCOPE:
            grant["scope"] = list(self.scope)

        optional = {"state": self.state, "ip": self.ip, "user_agent": self.user_agent}
        grant.update({name: value for name, value in optional.items() if value is not None})
        if self.settings:
            grant["settings"] = dict(self.settings)
        if "credential_id" in self.settings:
            grant["credential_id"] = self.settings["credential_id"]
        return grant


@dataclass(frozen=True)
class Authentication:
    """A successful provider login, ready to create or re-authenticate the mailbox's grant."""

    provider: str
    email: str
    scope: tuple[str, ...]
    state: str | None
    settings: dict[str, str | int]
    ip: str | None
    user_agent: str | None


class GrantStore:
    """Grants by id, with an index that enforces one grant per mailbox (case-insensitive)."""

    def __init__(self) -> None:
        self._grants: dict[str, GrantRecord] = {}
        self._by_mailbox: dict[str, str] = {}
        self._sequence = itertools.count()

    def authenticate(self, login: Authentication, now: int) -> tuple[GrantRecord, bool]:
        """Re-authenticate the mailbox's grant, or create one; return it and whether it is new.

        Re-authentication keeps the id and `created_at`, moves `updated_at` and makes the grant
        valid again. The mailbox of a deleted grant gets a new id, because deletion is final.
        """
        grant_id = self._by_mailbox.get(login.email.casefold())
        if grant_id is None:
            return self._create(login, now), True

        grant = self._grants[grant_id]
        grant.provider = login.provider
        grant.scope = login.scope
        grant.state = login.state
        grant.settings = dict(login.settings)
        grant.ip = login.ip
        grant.user_agent = login.user_agent
        grant.grant_status = "valid"
        grant.updated_at = now
        return grant, False

    def get(self, grant_id: str) -> GrantRecord:
        grant = self._grants.get(grant_id)
        if grant is None:
            raise GrantNotFoundError(grant_id)
        return grant

    def update(
        self,
        grant_id: str,
        *,
        settings: dict[str, str | int] | None,
        scope: tuple[str, ...] | None,
        now: int,
    ) -> GrantRecord:
        """Replace the grant's whole `settings` object and/or its scope list."""
        grant = self.get(grant_id)
        if settings is not None:
            grant.settings = dict(settings)
        if scope is not None:
            grant.scope = scope
        grant.updated_at = now
        return grant

    def expire(self, grant_id: str) -> GrantRecord:
        """Mark the grant invalid, as Nylas does when the provider stops accepting its token."""
        grant = self.get(grant_id)
        grant.grant_status = "invalid"
        return grant

    def delete(self, grant_id: str) -> GrantRecord:
        grant = self._grants.pop(grant_id, None)
        if grant is None:
            raise GrantNotFoundError(grant_id)
        del self._by_mailbox[grant.email.casefold()]
        return grant

    def query(self, query: ListQuery) -> list[GrantRecord]:
        """Return one page of the grants that pass the query's filters, in its order."""
        selected = [grant for grant in self._grants.values() if _matches(grant, query)]

        selected.sort(
            key=lambda grant: (getattr(grant, query.sort_by), grant.sequence),
            reverse=query.order_by == "desc",
        )
        return selected[query.offset : query.offset + query.limit]

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {grant_id: grant.to_json() for grant_id, grant in self._grants.items()}

    def clear(self) -> None:
        self._grants.clear()
        self._by_mailbox.clear()

    def _create(self, login: Authentication, now: int) -> GrantRecord:
        grant = GrantRecord(
            id=str(uuid.uuid4()),
            provider=login.provider,
            email=login.email,
            scope=login.scope,
            created_at=now,
            updated_at=now,
            sequence=next(self._sequence),
            state=login.state,
            settings=dict(login.settings),
            ip=login.ip,
            user_agent=login.user_agent,
        )
        self._grants[grant.id] = grant
        self._by_mailbox[grant.email.casefold()] = grant.id
        return grant


def _matches(grant: GrantRecord, query: ListQuery) -> bool:
    rendered = grant.to_json()
    for name, expected in query.equals.items():
        actual = rendered.get(name)
        if name == "email":
            # Mailboxes are case-insensitive everywhere else, so the filter is too.
            actual = grant.email.casefold()
            expected = expected.casefold()
        if actual != expected:
            return False

    if query.account_ids is not None and rendered.get("account_id") not in query.account_ids:
        return False
    if query.since is not None and grant.created_at < query.since:
        return False
    return query.before is None or grant.created_at <= query.before
