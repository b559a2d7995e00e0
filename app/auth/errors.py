"""Errors of caller authentication and authorization.

    ProblemError (app.core.errors)
    ├── AuthenticationError       401, with a WWW-Authenticate challenge
    └── PermissionDeniedError     403
    AuthConfigError               invalid auth settings; raised at startup

A 401 or 403 body names only the caller's own principal and the permission it lacks. It never
lists configured callers and never depends on whether a grant exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from app.core.errors import ProblemError

REALM = "grant-broker"
# RFC 9110 requires a challenge with every 401, but no HTTP authentication scheme is
# registered for mutual TLS. `XFCC` names the header the mesh sidecar sets. A client cannot
# respond to this challenge with credentials, only call again through the mesh.
MESH_CHALLENGE = f'XFCC realm="{REALM}"'
# RFC 6750, section 3: no error code when the request had no token, `invalid_token` otherwise.
BEARER_CHALLENGE = f'Bearer realm="{REALM}"'
BEARER_INVALID_TOKEN_CHALLENGE = f'Bearer realm="{REALM}", error="invalid_token"'


class AuthenticationError(ProblemError):
    """The request carries no valid caller identity."""

    status = HTTPStatus.UNAUTHORIZED
    problem_type = "unauthenticated"
    title = "Authentication required"

    def __init__(self, detail: str, *, challenge: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class PermissionDeniedError(ProblemError):
    """The caller is identified but not allowed this operation."""

    status = HTTPStatus.FORBIDDEN
    problem_type = "permission-denied"
    title = "Permission denied"

    @classmethod
    def lacking(cls, principal: str, missing: Iterable[str]) -> PermissionDeniedError:
        """Build the error for a caller without some required permissions.

        The body is the same whether the principal is configured without these permissions or
        not configured at all, so it reveals nothing about the list of callers.
        """
        names = sorted(missing)
        detail = (
            f"The caller {principal} lacks the permission {', '.join(names)} for this "
            "operation. Ask the operators of grant-broker to grant it."
        )
        return cls(detail, missing_permissions=names)

    @classmethod
    def not_configured(cls, principal: str) -> PermissionDeniedError:
        detail = (
            f"The caller {principal} is not allowed to call grant-broker. Ask the operators "
            "of grant-broker for access."
        )
        return cls(detail)


class AuthConfigError(ValueError):
    """Auth settings are invalid; the message names the setting and the entry to fix."""
