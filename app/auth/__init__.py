"""Caller identity and permissions.

A caller is identified by the mesh (the SPIFFE ID in X-Forwarded-Client-Cert, mode `mesh`), by
a bearer token (mode `token`), or not at all (mode `none`, development only). Routes declare
the permissions they need with `require(...)`; GRANT_BROKER_CALLERS maps each principal to its
permissions.
"""

from app.auth.authenticator import Authenticator
from app.auth.config import AuthConfig, AuthMode, AuthSettings, load_auth_config
from app.auth.dependencies import (
    AUTH_PROBLEM_RESPONSES,
    CallerDep,
    authorize_request,
    get_authenticator,
    require,
)
from app.auth.errors import AuthConfigError, AuthenticationError, PermissionDeniedError
from app.auth.istio import authorization_policy
from app.auth.permissions import ALL_PERMISSIONS, Caller, Permission
from app.auth.principals import (
    ANONYMOUS,
    InvalidPrincipalError,
    WorkloadIdentity,
    mesh_principal,
    parse_spiffe_id,
)
from app.auth.xfcc import XfccElement, XfccSyntaxError, parse_xfcc, render_xfcc

__all__ = [
    "ALL_PERMISSIONS",
    "ANONYMOUS",
    "AUTH_PROBLEM_RESPONSES",
    "AuthConfig",
    "AuthConfigError",
    "AuthMode",
    "AuthSettings",
    "AuthenticationError",
    "Authenticator",
    "Caller",
    "CallerDep",
    "InvalidPrincipalError",
    "Permission",
    "PermissionDeniedError",
    "WorkloadIdentity",
    "XfccElement",
    "XfccSyntaxError",
    "authorization_policy",
    "authorize_request",
    "get_authenticator",
    "load_auth_config",
    "mesh_principal",
    "parse_spiffe_id",
    "parse_xfcc",
    "render_xfcc",
    "require",
]
