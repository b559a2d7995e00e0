"""Principal names: Istio workload SPIFFE IDs, and plain names for token callers."""

from __future__ import annotations

import re
from dataclasses import dataclass

SPIFFE_SCHEME = "spiffe://"
# The principal of every request when authentication is off (GRANT_BROKER_AUTH_MODE=none).
ANONYMOUS = "anonymous"

# SPIFFE ID specification: a trust domain is lowercase letters, digits, `.`, `-` and `_`, at
# most 255 characters. Istio puts the Kubernetes namespace (a DNS-1123 label, at most 63
# characters) and service account (a DNS-1123 subdomain, at most 253) in the path.
_TRUST_DOMAIN = r"[a-z0-9._-]{1,255}"
_NAMESPACE = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SERVICE_ACCOUNT = r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?"
_ISTIO_SPIFFE_ID = re.compile(
    rf"spiffe://(?P<trust_domain>{_TRUST_DOMAIN})"
    rf"/ns/(?P<namespace>{_NAMESPACE})/sa/(?P<service_account>{_SERVICE_ACCOUNT})"
)
# Token callers may also be named like a Kubernetes service, such as `billing-api`.
_CALLER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?")


class InvalidPrincipalError(ValueError):
    """A principal is not in the form its mode requires."""


@dataclass(frozen=True)
class WorkloadIdentity:
    """An Istio workload identity, parsed from `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`."""

    trust_domain: str
    namespace: str
    service_account: str

    @property
    def spiffe_id(self) -> str:
        return f"{SPIFFE_SCHEME}{self.mesh_principal}"

    @property
    def mesh_principal(self) -> str:
        """The form Istio `AuthorizationPolicy` rules use: the SPIFFE ID without `spiffe://`."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def parse_spiffe_id(uri: str) -> WorkloadIdentity:
    """Parse an Istio workload SPIFFE ID. Raises InvalidPrincipalError for any other string.

    The match is exact and case-sensitive: SPIFFE trust domains are lowercase, and Kubernetes
    names are too, so two spellings of one workload cannot both be valid.
    """
    match = _ISTIO_SPIFFE_ID.fullmatch(uri)
    if match is None:
        raise InvalidPrincipalError(
            "expected an Istio workload SPIFFE ID such as "
            "spiffe://cluster.local/ns/billing/sa/billing-api"
        )
    return WorkloadIdentity(**match.groupdict())


def mesh_principal(spiffe_uri: str) -> str:
    """Return the Istio `AuthorizationPolicy` principal for a SPIFFE ID.

    `spiffe://cluster.local/ns/billing/sa/billing-api` becomes
    `cluster.local/ns/billing/sa/billing-api`. Raises InvalidPrincipalError.
    """
    return parse_spiffe_id(spiffe_uri).mesh_principal


def check_token_principal(principal: str) -> None:
    """Check the name of a token caller: a SPIFFE ID or a name such as `billing-api`.

    Raises InvalidPrincipalError. `anonymous` is reserved for requests without authentication.
    """
    if principal == ANONYMOUS:
        raise InvalidPrincipalError(f"{ANONYMOUS!r} is reserved for GRANT_BROKER_AUTH_MODE=none")
    if principal.startswith(SPIFFE_SCHEME):
        parse_spiffe_id(principal)
        return
    if _CALLER_NAME.fullmatch(principal) is None:
        raise InvalidPrincipalError(
            "expected a SPIFFE ID or a name of lowercase letters, digits, '.', '-' and '_' "
            "(at most 128 characters), such as billing-api"
        )
