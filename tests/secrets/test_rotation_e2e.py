"""Rotation of the Nylas API key under load: the broker, the Nylas simulator and the fake
Secret Manager run in-process, and no caller request may fail while the key changes."""

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.simulator import NylasSimulator
from tests.secrets.conftest import LATEST, SECRET, wait_until
from tests.secrets.fake_secret_manager import FakeSecretManager

KEY_A = "nylas-key-a-e2e-91c3"
KEY_B = "nylas-key-b-e2e-5d7a"
WORKERS = 3
# The simulator's default limit (50 requests per second) would add 429 retries to the stream;
# this test is about keys, so the limit is out of the way.
SIMULATOR_RATE_LIMIT = 10_000


@dataclass
class Traffic:
    """A steady stream of registrations and lookups, each result tagged with a phase."""

    http: httpx.AsyncClient
    phase: str = "key-a"
    results: list[tuple[str, str, int, str]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _user_numbers: Iterator[int] = field(default_factory=itertools.count)

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(WORKERS)))

    def stop(self) -> None:
        self._stop.set()

    def failures(self) -> list[tuple[str, str, int, str]]:
        return [result for result in self.results if result[2] not in (200, 201)]

    def registrations_in(self, phase: str) -> int:
        return sum(1 for result in self.results if result[:2] == (phase, "register"))

    async def _worker(self) -> None:
        while not self._stop.is_set():
            number = next(self._user_numbers)
            await self._register(number)
            await self._look_up(number)

    async def _register(self, number: int) -> None:
        phase = self.phase
        body = {
            "user_id": f"u-{number}",
            "provider": "google",
            "settings": {"refresh_token": f"sim:u{number}@example.com:1"},
        }
        response = await self.http.post("/v1/grants", json=body)
        self.results.append((phase, "register", response.status_code, response.text))

    async def _look_up(self, number: int) -> None:
        phase = self.phase
        response = await self.http.get(f"/v1/users/u-{number}/grant")
        self.results.append((phase, "lookup", response.status_code, response.text))


@pytest.fixture
def nylas() -> NylasSimulator:
    return NylasSimulator(api_keys=[KEY_A], rate_limit_per_second=SIMULATOR_RATE_LIMIT)


def _secret_settings(
    settings: Settings, fake: FakeSecretManager, *, refresh_interval: float
) -> Settings:
    return settings.model_copy(
        update={
            "nylas_api_key": None,
            "nylas_api_key_secret": LATEST,
            "secret_manager_endpoint": fake.endpoint,
            "secret_manager_timeout": 2.0,
            "secret_refresh_interval": refresh_interval,
        }
    )


@asynccontextmanager
async def _broker(settings: Settings, nylas: NylasSimulator) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, nylas_transport=nylas.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as http:
            yield http


@asynccontextmanager
async def _running(traffic: Traffic) -> AsyncIterator[None]:
    task = asyncio.create_task(traffic.run())
    try:
        yield
    finally:
        traffic.stop()
        await task


async def _key_version(http: httpx.AsyncClient) -> str:
    response = await http.get("/readyz")
    version: str = response.json()["checks"]["nylas_api_key"]["version"]
    return version


async def _wait_for_version(http: httpx.AsyncClient, version: str) -> None:
    async def in_use() -> bool:
        return await _key_version(http) == version

    await wait_until(in_use)


async def _wait_for_registrations(traffic: Traffic, phase: str, count: int) -> None:
    await wait_until(lambda: traffic.registrations_in(phase) >= count)


async def test_rotation_with_overlap(
    settings: Settings,
    nylas: NylasSimulator,
    fake_secret_manager: FakeSecretManager,
    log_output: io.StringIO,
) -> None:
    version_a = fake_secret_manager.add_version(SECRET, KEY_A)
    broker_settings = _secret_settings(settings, fake_secret_manager, refresh_interval=0.1)

    async with _broker(broker_settings, nylas) as http:
        traffic = Traffic(http)
        async with _running(traffic):
            await _wait_for_registrations(traffic, "key-a", 5)
            assert await _key_version(http) == version_a

            traffic.phase = "both-keys"
            version_b = fake_secret_manager.add_version(SECRET, KEY_B)
            nylas.accept_api_keys([KEY_A, KEY_B])
            await _wait_for_version(http, version_b)
            await _wait_for_registrations(traffic, "both-keys", 5)

            traffic.phase = "key-b"
            nylas.accept_api_keys([KEY_B])
            await _wait_for_registrations(traffic, "key-b", 20)

    assert traffic.failures() == []
    assert KEY_A not in log_output.getvalue()
    assert KEY_B not in log_output.getvalue()


async def test_rotation_by_rejection(
    settings: Settings,
    nylas: NylasSimulator,
    fake_secret_manager: FakeSecretManager,
    log_output: io.StringIO,
) -> None:
    # Key A is revoked at Nylas before the broker's periodic refresh runs, so only the refetch
    # after a 401 can find key B.
    fake_secret_manager.add_version(SECRET, KEY_A)
    broker_settings = _secret_settings(settings, fake_secret_manager, refresh_interval=3600)

    async with _broker(broker_settings, nylas) as http:
        traffic = Traffic(http)
        async with _running(traffic):
            await _wait_for_registrations(traffic, "key-a", 5)

            traffic.phase = "key-b"
            version_b = fake_secret_manager.add_version(SECRET, KEY_B)
            nylas.accept_api_keys([KEY_B])
            await _wait_for_registrations(traffic, "key-b", 20)

        final_version = await _key_version(http)

    assert traffic.failures() == []
    assert final_version == version_b
    # One access at startup and one after the first 401, however many requests saw a 401.
    assert fake_secret_manager.access_count() == 2
    assert "nylas.api_key.rejected" in log_output.getvalue()
    assert KEY_B not in log_output.getvalue()
