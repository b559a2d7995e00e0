"""Istio `AuthorizationPolicy` rendered from the caller map, for the Helm chart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.auth.principals import mesh_principal


def authorization_policy(
    principals: Iterable[str],
    *,
    name: str,
    namespace: str,
    selector: Mapping[str, str],
) -> dict[str, Any]:
    """Return a `security.istio.io/v1` ALLOW policy admitting only the given SPIFFE IDs.

    The mesh then rejects other workloads before they reach the app, and the app still checks
    each route's permissions. Kubelet probes are unaffected, because Istio's probe rewrite
    sends them through its agent rather than the inbound listener. A future Nylas webhook
    reached through an ingress gateway needs its own rule for the gateway's principal.

    Raises InvalidPrincipalError for a principal that is not an Istio workload SPIFFE ID, and
    ValueError for no principals: Istio reads an empty `principals` list as unset, which would
    admit every source.
    """
    mesh_principals = sorted({mesh_principal(principal) for principal in principals})
    if not mesh_principals:
        raise ValueError("an AuthorizationPolicy needs at least one principal")
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": mesh_principals}}]}],
        },
    }
