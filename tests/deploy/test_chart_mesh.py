"""Settings in the ConfigMap, and the Istio policies rendered from the same callers map."""

import json
import re
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from app.auth import AuthMode, authorization_policy
from app.auth.config import parse_callers
from app.core.config import Settings
from tests.deploy.chart import Manifest, one, production_values

PREFIX = "GRANT_BROKER_"
SECRET_VERSION = re.compile(r"projects/[^/]+/secrets/[^/]+/versions/[^/]+")
# Settings that would contain a secret value. Only the *_SECRET settings, which name a Secret
# Manager version, may appear.
SECRET_VALUE_SETTINGS = {
    "GRANT_BROKER_NYLAS_API_KEY",
    "GRANT_BROKER_NYLAS_WEBHOOK_SECRET",
    "GRANT_BROKER_CALLER_TOKENS",
}
WEBHOOK_PATH = "/v1/nylas/webhooks"
GATEWAY = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"


def _settings(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap")["data"]
    return data


def _rules(manifests: list[Manifest]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = one(manifests, "AuthorizationPolicy")["spec"]["rules"]
    return rules


def _paths(rule: dict[str, Any]) -> list[str]:
    paths: list[str] = rule["to"][0]["operation"]["paths"]
    return paths


def _principals(rule: dict[str, Any]) -> list[str]:
    principals: list[str] = rule["from"][0]["source"]["principals"]
    return principals


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_configmap_known_settings(fixture: str, request: pytest.FixtureRequest) -> None:
    names = set(_settings(request.getfixturevalue(fixture)))
    fields = {PREFIX + name.upper() for name in Settings.model_fields}

    # Settings ignores unknown variables, so a misspelt name would be dropped silently.
    assert names <= fields, f"not settings of the app: {sorted(names - fields)}"


def test_configmap_secret_names_only(production_manifests: list[Manifest]) -> None:
    settings = _settings(production_manifests)
    version_settings = {name: value for name, value in settings.items() if name.endswith("_SECRET")}

    assert SECRET_VALUE_SETTINGS.isdisjoint(settings)
    assert set(version_settings) == {
        "GRANT_BROKER_NYLAS_API_KEY_SECRET",
        "GRANT_BROKER_NYLAS_WEBHOOK_SECRET_SECRET",
    }
    for value in version_settings.values():
        assert SECRET_VERSION.fullmatch(value), value


def test_configmap_database_url(production_manifests: list[Manifest]) -> None:
    url = make_url(_settings(production_manifests)["GRANT_BROKER_DATABASE_URL"])

    assert url.drivername == "postgresql+asyncpg"
    assert url.password is None
    assert url.username == "grant-broker@acme-prod.iam"


def test_configmap_production_settings(
    production_manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _settings(production_manifests).items():
        monkeypatch.setenv(name, value)
    settings = Settings()

    assert settings.auth_mode is AuthMode.MESH
    assert not settings.is_development
    assert settings.nylas_region == "eu"


def test_configmap_callers(production_manifests: list[Manifest]) -> None:
    text = _settings(production_manifests)["GRANT_BROKER_CALLERS"]
    parsed = parse_callers(text, mode=AuthMode.MESH, origin="GRANT_BROKER_CALLERS")

    assert json.loads(text) == production_values()["callers"]
    assert {principal: sorted(permissions) for principal, permissions in parsed.items()} == {
        principal: sorted(permissions)
        for principal, permissions in production_values()["callers"].items()
    }


def test_callers_unset(default_manifests: list[Manifest]) -> None:
    # With GRANT_BROKER_CALLERS missing, the app refuses to start in mesh mode and names it.
    assert "GRANT_BROKER_CALLERS" not in _settings(default_manifests)


def test_policy_callers_rule(production_manifests: list[Manifest]) -> None:
    callers = production_values()["callers"]
    expected = authorization_policy(
        callers, name="grant-broker", namespace="grant-broker", selector={}
    )
    api_rules = [rule for rule in _rules(production_manifests) if "/v1/*" in _paths(rule)]

    assert len(api_rules) == 1
    assert api_rules[0]["from"] == expected["spec"]["rules"][0]["from"]
    assert len(_principals(api_rules[0])) == len(callers)
    assert api_rules[0]["to"][0]["operation"]["notPaths"] == [WEBHOOK_PATH]


def test_policy_open_paths(production_manifests: list[Manifest]) -> None:
    open_rules = [rule for rule in _rules(production_manifests) if "from" not in rule]

    assert len(open_rules) == 1
    assert {"/livez", "/readyz", "/docs", "/openapi.json"} <= set(_paths(open_rules[0]))
    assert not any(path.startswith("/v1") for path in _paths(open_rules[0]))


def test_policy_webhook_rule(production_manifests: list[Manifest]) -> None:
    webhook_rules = [rule for rule in _rules(production_manifests) if WEBHOOK_PATH in _paths(rule)]

    assert len(webhook_rules) == 1
    assert _principals(webhook_rules[0]) == [GATEWAY]
    assert _paths(webhook_rules[0]) == [WEBHOOK_PATH]


def test_policy_without_callers(default_manifests: list[Manifest]) -> None:
    rules = _rules(default_manifests)

    # Istio reads an empty principals list as unset, which would admit every source.
    assert all(_principals(rule) for rule in rules if "from" in rule)
    assert not any("/v1/*" in _paths(rule) for rule in rules)


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_peer_authentication_strict(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    peer_authentication = one(manifests, "PeerAuthentication")
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert peer_authentication["spec"]["mtls"] == {"mode": "STRICT"}
    assert peer_authentication["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_network_policy(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    policy = one(manifests, "NetworkPolicy")["spec"]
    pod_labels = one(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    ingress_ports = [port["port"] for rule in policy["ingress"] for port in rule["ports"]]

    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert ingress_ports == [8000]


def test_network_policy_database(production_manifests: list[Manifest]) -> None:
    egress = one(production_manifests, "NetworkPolicy")["spec"]["egress"]
    database = [rule for rule in egress if rule["ports"] == [{"protocol": "TCP", "port": 3307}]]

    assert database == [
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 3307}],
        }
    ]
