"""Permissions a caller can hold, and the authenticated caller itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """One operation class a caller may be allowed.

    `admin` does not include the others: each caller lists every permission it needs, so that
    granting `admin` for a maintenance task never silently opens the grant endpoints as well.
    """

    GRANTS_REGISTER = "grants:register"
    GRANTS_READ = "grants:read"
    GRANTS_DELETE = "grants:delete"
    EVENTS_READ = "events:read"
    ADMIN = "admin"


ALL_PERMISSIONS = frozenset(Permission)


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request and the permissions configured for it.

    `principal` is a SPIFFE ID (`spiffe://cluster.local/ns/billing/sa/billing-api`) in mesh
    mode, the name the token is configured under in token mode, and `anonymous` when
    authentication is off.
    """

    principal: str
    permissions: frozenset[Permission]

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions
