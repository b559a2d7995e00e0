"""The chart lints, renders for the default and production values, and matches the API schemas."""

from typing import Any

import helm_python
import kubernetes_validate  # type: ignore[import-untyped]  # the package ships no type hints
import pytest

from tests.deploy.chart import (
    CHART_PATH,
    KUBERNETES_VERSION,
    Manifest,
    production_values,
)

# kubernetes-validate has no schemas for Istio's custom resources.
ISTIO_KINDS = {"PeerAuthentication", "AuthorizationPolicy"}
EXPECTED_KINDS = {
    "ConfigMap",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Job",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
    *ISTIO_KINDS,
}
HELM_WARNING = 2


@pytest.mark.parametrize("values", [None, production_values()], ids=["default", "production"])
def test_chart_lint(values: dict[str, Any] | None) -> None:
    report = helm_python.lint(
        CHART_PATH, values, strict=True, kube_version=f"v{KUBERNETES_VERSION}"
    )

    assert report["errors"] == []
    assert [item for item in report["messages"] if item["severity"] >= HELM_WARNING] == []


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_chart_kinds(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)

    assert {manifest["kind"] for manifest in manifests} == EXPECTED_KINDS


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_chart_kubernetes_schemas(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in ISTIO_KINDS:
            continue
        # Raises ValidationError naming the field. Strict mode rejects unknown fields too.
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        checked += 1

    assert checked == len(manifests) - len(ISTIO_KINDS)


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_chart_istio_api_version(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    istio = [manifest for manifest in manifests if manifest["kind"] in ISTIO_KINDS]

    assert {manifest["apiVersion"] for manifest in istio} == {"security.istio.io/v1"}
    assert len(istio) == len(ISTIO_KINDS)
