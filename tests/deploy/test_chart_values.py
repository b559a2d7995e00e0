"""values.schema.json rejects values that would leak a secret or break the app's startup."""

from typing import Any

import helm_python
import pytest

from tests.deploy.chart import RELEASE_NAME

CALLER = "spiffe://cluster.local/ns/billing/sa/billing-api"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (
            {"config": {"databaseUrl": "postgresql+asyncpg://broker:hunter2@db:5432/broker"}},
            "/config/databaseUrl",
        ),
        (
            {"config": {"databaseUrl": "sqlite+aiosqlite:///./grant-broker.db"}},
            "/config/databaseUrl",
        ),
        ({"config": {"nylasApiKeySecret": "nyk_v0_live_key"}}, "/config/nylasApiKeySecret"),
        ({"config": {"extraEnv": {"NYLAS_API_KEY": "nyk_v0_live_key"}}}, "NYLAS_API_KEY"),
        ({"config": {"extraEnv": {"CALLERS": "{}"}}}, "CALLERS"),
        ({"config": {"authMode": "none"}}, "/config/authMode"),
        ({"callers": {"billing-api": ["grants:read"]}}, "billing-api"),
        ({"callers": {CALLER: ["grants:write"]}}, "/callers/"),
        ({"callers": {CALLER: []}}, "/callers/"),
        ({"shutdown": {"drainSeconds": 0}}, "/shutdown/drainSeconds"),
        (
            {"istio": {"ingressGatewayPrincipal": "spiffe://cluster.local/ns/istio-system/sa/gw"}},
            "/istio/ingressGatewayPrincipal",
        ),
        ({"replicas": 3}, "replicas"),
    ],
    ids=[
        "database-password",
        "database-sqlite",
        "secret-value-as-name",
        "secret-value-in-extra-env",
        "callers-in-extra-env",
        "auth-off",
        "caller-not-spiffe",
        "unknown-permission",
        "no-permissions",
        "no-drain",
        "gateway-with-scheme",
        "misspelt-key",
    ],
)
def test_values_rejected(chart: helm_python.Chart, values: dict[str, Any], field: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as raised:
        chart.render(values, name=RELEASE_NAME, namespace=RELEASE_NAME)

    assert field in str(raised.value)
