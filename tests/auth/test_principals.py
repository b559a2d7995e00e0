"""SPIFFE IDs, token caller names and the Istio AuthorizationPolicy."""

from __future__ import annotations

import pytest

from app.auth import (
    InvalidPrincipalError,
    WorkloadIdentity,
    authorization_policy,
    mesh_principal,
    parse_spiffe_id,
)
from app.auth.principals import check_token_principal
from tests.auth.conftest import BILLING, OFFBOARDING


def test_parse_spiffe_id_istio() -> None:
    identity = parse_spiffe_id("spiffe://my-project.svc.id.goog/ns/billing/sa/billing-api")

    assert identity == WorkloadIdentity(
        trust_domain="my-project.svc.id.goog", namespace="billing", service_account="billing-api"
    )
    assert identity.spiffe_id == "spiffe://my-project.svc.id.goog/ns/billing/sa/billing-api"


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "spiffe://cluster.local",
        "spiffe://cluster.local/ns/billing",
        "spiffe://cluster.local/ns/billing/sa/",
        "spiffe://Cluster.Local/ns/billing/sa/billing-api",
        "spiffe://cluster.local/ns/Billing/sa/billing-api",
        "spiffe://cluster.local/ns/billing/sa/billing-api/",
        "spiffe://cluster.local/ns/billing/sa/billing-api?x=1",
        "spiffe://cluster.local/ns/billing/sa/billing-api#f",
        "spiffe://cluster.local:443/ns/billing/sa/billing-api",
        "spiffe://user@cluster.local/ns/billing/sa/billing-api",
        "spiffe://cluster.local/sa/billing-api/ns/billing",
        "spiffe://cluster.local/ns/-billing/sa/billing-api",
        "spiffe://cluster.local/ns/" + "n" * 64 + "/sa/billing-api",
        "https://cluster.local/ns/billing/sa/billing-api",
        " spiffe://cluster.local/ns/billing/sa/billing-api",
    ],
)
def test_parse_spiffe_id_invalid(uri: str) -> None:
    with pytest.raises(InvalidPrincipalError, match="Istio workload SPIFFE ID"):
        parse_spiffe_id(uri)


def test_mesh_principal_strips_scheme() -> None:
    assert mesh_principal(BILLING) == "cluster.local/ns/billing/sa/billing-api"


def test_mesh_principal_rejects_plain_name() -> None:
    with pytest.raises(InvalidPrincipalError):
        mesh_principal("billing-api")


@pytest.mark.parametrize("principal", ["billing-api", "ops.offboarding", "a", BILLING])
def test_token_principal_valid(principal: str) -> None:
    check_token_principal(principal)


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        ("anonymous", "reserved"),
        ("Billing", "lowercase"),
        ("billing api", "lowercase"),
        ("-billing", "lowercase"),
        ("", "lowercase"),
        ("b" * 129, "lowercase"),
        ("spiffe://cluster.local/billing", "SPIFFE ID"),
    ],
)
def test_token_principal_invalid(principal: str, message: str) -> None:
    with pytest.raises(InvalidPrincipalError, match=message):
        check_token_principal(principal)


def test_authorization_policy_lists_principals() -> None:
    policy = authorization_policy(
        [OFFBOARDING, BILLING, BILLING],
        name="grant-broker",
        namespace="grant-broker",
        selector={"app.kubernetes.io/name": "grant-broker"},
    )

    assert policy == {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "grant-broker", "namespace": "grant-broker"},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "grant-broker"}},
            "action": "ALLOW",
            "rules": [
                {
                    "from": [
                        {
                            "source": {
                                "principals": [
                                    "cluster.local/ns/billing/sa/billing-api",
                                    "cluster.local/ns/ops/sa/offboarding",
                                ]
                            }
                        }
                    ]
                }
            ],
        },
    }


def test_authorization_policy_rejects_no_principals() -> None:
    with pytest.raises(ValueError, match="at least one principal"):
        authorization_policy([], name="grant-broker", namespace="grant-broker", selector={})


def test_authorization_policy_rejects_plain_name() -> None:
    with pytest.raises(InvalidPrincipalError):
        authorization_policy(
            ["billing-api"], name="grant-broker", namespace="grant-broker", selector={}
        )
