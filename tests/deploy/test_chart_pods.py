"""The app's pods and the migration Job: probes, shutdown timing, security, service accounts."""

from typing import Any

import pytest

from tests.deploy.chart import Manifest, container, one, option

APP_CONTAINER = "grant-broker"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
HOOKS = "pre-install,pre-upgrade"


def _pod_spec(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def _http_get(probe: dict[str, Any]) -> tuple[str, str]:
    return probe["httpGet"]["path"], probe["httpGet"]["port"]


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_deployment_probes(fixture: str, request: pytest.FixtureRequest) -> None:
    app = container(one(request.getfixturevalue(fixture), "Deployment"), APP_CONTAINER)

    assert _http_get(app["livenessProbe"]) == ("/livez", "http")
    assert _http_get(app["readinessProbe"]) == ("/readyz", "http")
    assert _http_get(app["startupProbe"]) == ("/livez", "http")
    assert app["args"][0] == "serve"
    # Behind an Istio sidecar the app must listen on all interfaces, not loopback.
    assert option(app["args"], "host") == "0.0.0.0"  # noqa: S104


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_deployment_shutdown_timing(fixture: str, request: pytest.FixtureRequest) -> None:
    deployment = one(request.getfixturevalue(fixture), "Deployment")
    app = container(deployment, APP_CONTAINER)
    pre_stop_seconds = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain_seconds = int(option(app["args"], "graceful-shutdown"))
    grace_seconds = _pod_spec(deployment)["terminationGracePeriodSeconds"]

    assert pre_stop_seconds > 0
    assert drain_seconds > 0
    assert grace_seconds > pre_stop_seconds + drain_seconds


def test_deployment_sidecar_drain(production_manifests: list[Manifest]) -> None:
    deployment = one(production_manifests, "Deployment")
    app = container(deployment, APP_CONTAINER)
    annotation = deployment["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"]
    pre_stop_seconds = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain_seconds = int(option(app["args"], "graceful-shutdown"))

    assert f'"terminationDrainDuration":"{pre_stop_seconds + drain_seconds}s"' in annotation
    assert '"holdApplicationUntilProxyStarts":true' in annotation


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_pod_security(kind: str, fixture: str, request: pytest.FixtureRequest) -> None:
    pod = _pod_spec(one(request.getfixturevalue(fixture), kind))
    main = pod["containers"][0]
    context = main["securityContext"]
    mounts = main["volumeMounts"]
    tmp_mount = next(mount for mount in mounts if mount["mountPath"] == "/tmp")  # noqa: S108
    tmp_volume = next(volume for volume in pod["volumes"] if volume["name"] == tmp_mount["name"])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "emptyDir" in tmp_volume
    assert "resources" in main


def test_workload_identity(production_manifests: list[Manifest]) -> None:
    deployment = one(production_manifests, "Deployment")
    account_name = _pod_spec(deployment)["serviceAccountName"]
    account = one(production_manifests, "ServiceAccount", account_name)

    assert account["metadata"]["annotations"] == {
        WORKLOAD_IDENTITY_ANNOTATION: "grant-broker@acme-prod.iam.gserviceaccount.com"
    }


def test_workload_identity_unset(default_manifests: list[Manifest]) -> None:
    account = one(default_manifests, "ServiceAccount", "grant-broker")

    assert "annotations" not in account["metadata"]


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_migration_hook(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    job = one(manifests, "Job")
    hook_account_name = _pod_spec(job)["serviceAccountName"]
    hook_account = one(manifests, "ServiceAccount", hook_account_name)
    app_account_name = _pod_spec(one(manifests, "Deployment"))["serviceAccountName"]
    job_hook = job["metadata"]["annotations"]
    account_hook = hook_account["metadata"]["annotations"]

    assert _pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert job_hook["helm.sh/hook"] == HOOKS
    assert hook_account_name != app_account_name
    assert account_hook["helm.sh/hook"] == HOOKS
    # Hooks of lower weight are created first, so the account exists when the Job starts.
    assert int(account_hook["helm.sh/hook-weight"]) < int(job_hook["helm.sh/hook-weight"])


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_migration_settings(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    job_container = _pod_spec(one(manifests, "Job"))["containers"][0]
    job_environment = {item["name"]: item["value"] for item in job_container["env"]}

    # The hook runs before the ConfigMap exists, so it carries the same settings inline.
    assert job_environment == one(manifests, "ConfigMap")["data"]


def test_migration_sidecars(production_manifests: list[Manifest]) -> None:
    job = _pod_spec(one(production_manifests, "Job"))
    deployment = _pod_spec(one(production_manifests, "Deployment"))

    assert [item["name"] for item in job["initContainers"]] == ["cloud-sql-proxy"]
    assert job["initContainers"] == deployment["initContainers"]
    assert job["initContainers"][0]["restartPolicy"] == "Always"


@pytest.mark.parametrize("fixture", ["default_manifests", "production_manifests"])
def test_scaling_targets(fixture: str, request: pytest.FixtureRequest) -> None:
    manifests: list[Manifest] = request.getfixturevalue(fixture)
    deployment = one(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    autoscaler = one(manifests, "HorizontalPodAutoscaler")
    budget = one(manifests, "PodDisruptionBudget")

    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert autoscaler["spec"]["minReplicas"] > budget["spec"]["maxUnavailable"]
