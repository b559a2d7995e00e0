"""Secret Manager down: at startup, while serving, and while Nylas rejects the key in use.

The broker reads the Nylas API key through the real Secret Manager client from the fake on
127.0.0.1 (tests/secrets/fake_secret_manager.py), which returns 503 while it is down.
"""

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.secrets import SecretLoadError
from app.simulator import NylasSimulator
from tests.conftest import TEST_API_KEY
from tests.reliability.conftest import running_broker
from tests.reliability.test_fault_matrix import FIRST, record_of, registration
from tests.secrets.fake_secret_manager import FakeSecretManager

SECRET = "projects/grant-broker-test/secrets/nylas-api-key"
REFRESH_INTERVAL = 0.1
MAX_AGE = 0.5


@pytest.fixture
def secret_manager() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    fake.start()
    fake.add_version(SECRET, TEST_API_KEY)
    yield fake
    fake.stop()


@pytest.fixture
def key_settings(quick_settings: Settings, secret_manager: FakeSecretManager) -> Settings:
    return quick_settings.model_copy(
        update={
            "nylas_api_key": None,
            "nylas_api_key_secret": f"{SECRET}/versions/latest",
            "secret_manager_endpoint": secret_manager.endpoint,
            "secret_manager_timeout": 0.5,
            "secret_refresh_interval": REFRESH_INTERVAL,
            "secret_max_age": MAX_AGE,
        }
    )


async def test_down_at_startup_stops_start(
    key_settings: Settings, secret_manager: FakeSecretManager, simulator: NylasSimulator
) -> None:
    secret_manager.fail(503)
    app = create_app(key_settings, nylas_transport=simulator.transport())

    with pytest.raises(SecretLoadError) as raised:
        async with app.router.lifespan_context(app):
            pass

    assert "GRANT_BROKER_NYLAS_API_KEY" in str(raised.value)
    assert TEST_API_KEY not in str(raised.value)


async def test_down_while_serving_keeps_key(
    key_settings: Settings, secret_manager: FakeSecretManager, simulator: NylasSimulator
) -> None:
    async with running_broker(key_settings, simulator) as broker:
        secret_manager.fail(503)
        await asyncio.sleep(MAX_AGE + 3 * REFRESH_INTERVAL)

        response = await broker.post("/v1/grants", json=registration(FIRST))
        ready = await broker.get("/readyz")
        metrics = (await broker.get("/metrics")).text

    assert response.status_code == 201
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["nylas_api_key"]["status"] == "stale"
    failures = re.search(
        r'^grant_broker_secret_refreshes_total\{outcome="failure",secret="nylas_api_key"\} (\S+)$',
        metrics,
        re.MULTILINE,
    )
    assert failures is not None, "no refresh failure counted in /metrics"
    assert float(failures.group(1)) >= 1


async def test_down_while_key_rejected(
    key_settings: Settings, secret_manager: FakeSecretManager, simulator: NylasSimulator
) -> None:
    async with running_broker(key_settings, simulator) as broker:
        secret_manager.fail(503)
        # Nylas now accepts only a key the broker cannot fetch.
        simulator.accept_api_keys(["nylas-key-rotated-elsewhere"])

        response = await broker.post("/v1/grants", json=registration(FIRST))
        stored = await record_of(broker)

    assert response.status_code == 502
    assert response.json()["type"].endswith("/nylas-api-key-rejected")
    assert stored is None


def test_fake_answers_503_while_down(secret_manager: FakeSecretManager) -> None:
    # Guards the cases above: the fake must really be down, not merely slow.
    secret_manager.fail(503)

    response = httpx.get(f"{secret_manager.endpoint}/v1/{SECRET}/versions/latest:access")

    assert response.status_code == 503
