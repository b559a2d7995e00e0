"""Render the Helm chart offline with the Helm 4 SDK and index the manifests it produces."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import helm_python
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHART_PATH = PROJECT_ROOT / "helm" / "grant-broker"
PRODUCTION_VALUES_PATH = CHART_PATH / "ci" / "production-values.yaml"
RELEASE_NAME = "grant-broker"
NAMESPACE = "grant-broker"
# Kubernetes release whose API schemas the manifests are validated against. The preStop sleep
# action is GA from 1.34.
KUBERNETES_VERSION = "1.34.0"

Manifest = dict[str, Any]


def production_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES_PATH.read_text())
    return values


def render(chart: helm_python.Chart, values: dict[str, Any] | None) -> list[Manifest]:
    """Render `chart` with `values` as an install and return every manifest but NOTES.txt."""
    rendered = chart.render(values, name=RELEASE_NAME, namespace=NAMESPACE, is_install=True)
    return [
        document
        for template, text in sorted(rendered.items())
        if template.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    ]


def one(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    """Return the only manifest of `kind` (and `name`, when given), or fail the test."""
    found = [
        manifest
        for manifest in manifests
        if manifest["kind"] == kind and name in (None, manifest["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(manifest: Manifest, name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return next(item for item in containers if item["name"] == name)


def option(arguments: list[str], name: str) -> str:
    """Return the value of `--name=value` in a container's arguments."""
    prefix = f"--{name}="
    values = [
        argument.removeprefix(prefix) for argument in arguments if argument.startswith(prefix)
    ]
    assert len(values) == 1, f"expected one {prefix}..., found {values}"
    return values[0]
