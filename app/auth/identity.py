"""Reading the caller's principal from a request, one function per mode.

Each function returns the principal or raises AuthenticationError with a detail the caller can
act on. The reason is also logged as `auth.unauthenticated`, never with the header's value.
"""

from __future__ import annotations

import functools

import structlog
from starlette.datastructures import Headers

from app.auth.errors import (
    BEARER_CHALLENGE,
    BEARER_INVALID_TOKEN_CHALLENGE,
    MESH_CHALLENGE,
    AuthenticationError,
)
from app.auth.principals import InvalidPrincipalError, parse_spiffe_id
from app.auth.tokens import BEARER_TOKEN, CallerTokens
from app.auth.xfcc import HEADER as XFCC_HEADER
from app.auth.xfcc import XfccSyntaxError, parse_xfcc

log = structlog.get_logger(__name__)

_MESH_HINT = "Call grant-broker through the service mesh with mutual TLS."
_WORKLOAD_ID_FORM = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"


def mesh_principal_of(headers: Headers) -> str:
    """Return the SPIFFE ID in the last element of X-Forwarded-Client-Cert.

    Istio's inbound sidecar forwards what the client sent and appends one element for the
    connection it terminated (APPEND_FORWARD), so only the last element is trusted. Every
    earlier element may be forged by the caller. The whole header is still parsed, because a
    quote opened in a forged element changes where the last element starts. Such a header is
    rejected as malformed, not guessed at.
    """
    lines = headers.getlist(XFCC_HEADER)
    if not lines:
        raise _mesh_error("xfcc_missing", f"The request has no {XFCC_HEADER} header. {_MESH_HINT}")
    try:
        # Several header lines are one comma-separated list (RFC 9110, section 5.3).
        return _principal_of_xfcc(",".join(lines))
    except _MeshIdentityError as exc:
        raise _mesh_error(exc.reason, exc.detail) from None


class _MeshIdentityError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


# A caller's sidecar sends the same header on every request, so parsing each distinct value
# once saves most of the work. Failures are not cached: lru_cache keeps only return values.
@functools.lru_cache(maxsize=1024)
def _principal_of_xfcc(value: str) -> str:
    try:
        last = parse_xfcc(value)[-1]
    except XfccSyntaxError as exc:
        detail = f"The {XFCC_HEADER} header is malformed at character {exc.position}: {exc.reason}."
        raise _MeshIdentityError("xfcc_malformed", f"{detail} {_MESH_HINT}") from None

    # Envoy writes `URI=` with an empty value for a certificate without a URI SAN.
    uris = [uri for uri in last.values("URI") if uri]
    if len(uris) != 1:
        reason = "xfcc_no_uri" if not uris else "xfcc_several_uris"
        detail = f"The mesh client certificate must carry exactly one URI SAN, found {len(uris)}."
        raise _MeshIdentityError(reason, detail)
    try:
        parse_spiffe_id(uris[0])
    except InvalidPrincipalError:
        detail = (
            f"The mesh client certificate's URI is not an Istio workload ID {_WORKLOAD_ID_FORM}."
        )
        raise _MeshIdentityError("xfcc_not_workload_id", detail) from None
    return uris[0]


def token_principal_of(headers: Headers, tokens: CallerTokens) -> str:
    """Return the caller whose token is in `Authorization: Bearer <token>`."""
    lines = headers.getlist("Authorization")
    if not lines:
        raise _token_error(
            "token_missing", "The request has no Authorization header.", BEARER_CHALLENGE
        )
    scheme, _, token = lines[0].partition(" ")
    if len(lines) > 1 or scheme.lower() != "bearer":
        raise _token_error(
            "token_not_bearer",
            "The Authorization header must be a single `Bearer <token>`.",
            BEARER_CHALLENGE,
        )

    token = token.strip(" ")
    principal = tokens.principal_for(token) if BEARER_TOKEN.fullmatch(token) else None
    if principal is None:
        raise _token_error(
            "token_invalid", "The bearer token is not valid.", BEARER_INVALID_TOKEN_CHALLENGE
        )
    return principal


def _mesh_error(reason: str, detail: str) -> AuthenticationError:
    log.info("auth.unauthenticated", mode="mesh", reason=reason)
    return AuthenticationError(detail, challenge=MESH_CHALLENGE)


def _token_error(reason: str, detail: str, challenge: str) -> AuthenticationError:
    log.info("auth.unauthenticated", mode="token", reason=reason)
    return AuthenticationError(detail, challenge=challenge)
