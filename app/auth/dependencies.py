"""FastAPI dependencies: each route declares the permissions it needs with `require(...)`.

    @router.get("/v1/grants", dependencies=[require(Permission.GRANTS_READ)])
    async def list_grants(...): ...

    @router.delete("/v1/users/{user_id}/grant")
    async def delete_user_grant(caller: Annotated[Caller, require(Permission.GRANTS_DELETE)]): ...

The OpenAPI document lists both security schemes on every such operation, with the required
permissions as the requirement's roles (OpenAPI 3.1 allows roles for any scheme type). Which
scheme a deployment accepts depends on GRANT_BROKER_AUTH_MODE.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Security, params
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from app.auth.authenticator import Authenticator
from app.auth.permissions import Caller, Permission
from app.auth.xfcc import HEADER as XFCC_HEADER
from app.core.errors import PROBLEM_MEDIA_TYPE

# Both schemes only document the request: authorize_request reads the headers itself, so
# auto_error is off and their values are ignored.
MESH_SCHEME = APIKeyHeader(
    name=XFCC_HEADER,
    scheme_name="mesh",
    description=(
        "Istio mutual TLS (GRANT_BROKER_AUTH_MODE=mesh). The caller's sidecar presents the "
        "workload certificate and grant-broker's sidecar sets this header; callers do not set "
        "it themselves. The principal is the SPIFFE ID spiffe://<trust-domain>/ns/<namespace>/"
        "sa/<service-account>."
    ),
    auto_error=False,
)
BEARER_SCHEME = HTTPBearer(
    scheme_name="bearer",
    description="One token per caller (GRANT_BROKER_AUTH_MODE=token).",
    auto_error=False,
)

AUTH_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in (
        (401, "No valid caller identity; `WWW-Authenticate` names the scheme."),
        (403, "The caller lacks a permission; `missing_permissions` lists which."),
    )
}


def get_authenticator(request: Request) -> Authenticator:
    """Return the app's authenticator. Raises RuntimeError when none was installed.

    A missing authenticator fails the request with 500 instead of letting it through.
    """
    authenticator = getattr(request.app.state, "authenticator", None)
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("app.state.authenticator is not set: create it in create_app")
    return authenticator


async def authorize_request(
    request: Request,
    security_scopes: SecurityScopes,
    _mesh: Annotated[str | None, Security(MESH_SCHEME)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
) -> Caller:
    """Identify the caller and check the permissions the route declared as scopes."""
    required = frozenset(Permission(scope) for scope in security_scopes.scopes)
    return get_authenticator(request).authorize(request.headers, required)


def require(*permissions: Permission) -> params.Security:
    """Return a dependency that admits only callers holding every one of `permissions`.

    It resolves to the `Caller`. Raises AuthenticationError (401) or PermissionDeniedError
    (403) from the route.
    """
    scopes = [permission.value for permission in permissions]
    return params.Security(dependency=authorize_request, scopes=scopes)


# Any configured caller, whatever its permissions.
CallerDep = Annotated[Caller, Security(authorize_request)]
