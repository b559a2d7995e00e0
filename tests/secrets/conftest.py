"""Fixtures for the secrets tests: a fake Secret Manager on 127.0.0.1 and a fake clock."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterator

import pytest

from app.secrets import SecretManagerAccess
from tests.secrets.fake_secret_manager import FakeSecretManager

SECRET = "projects/grant-broker-test/secrets/nylas-api-key"
LATEST = f"{SECRET}/versions/latest"
SETTING = "GRANT_BROKER_NYLAS_API_KEY"
# Values that must never appear in a log line, a repr or an exception message.
CANARY_A = "canary-key-a-7d41c9-DO-NOT-LOG"
CANARY_B = "canary-key-b-2e08f3-DO-NOT-LOG"
# Short enough that timeout tests stay fast, long enough for a loaded machine.
ACCESS_TIMEOUT = 1.0
# How long tests wait for a background task (refresh loop, request stream) to reach a state.
WAIT_SECONDS = 10.0
POLL_INTERVAL_SECONDS = 0.02


class FakeClock:
    """A monotonic clock that moves only when a test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_secret_manager() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def secret_manager(fake_secret_manager: FakeSecretManager) -> Iterator[SecretManagerAccess]:
    """The real Secret Manager client, REST transport, pointed at the fake."""
    access = SecretManagerAccess(endpoint=fake_secret_manager.endpoint, timeout=ACCESS_TIMEOUT)
    yield access
    access.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def wait_until(check: Callable[[], bool | Awaitable[bool]]) -> None:
    """Poll `check` until it returns True. Raises TimeoutError after WAIT_SECONDS."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            result = check()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(POLL_INTERVAL_SECONDS)
