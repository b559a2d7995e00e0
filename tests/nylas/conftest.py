from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.nylas import ApiKeyProvider, NylasClient, RetryPolicy, StaticApiKey, create_http_client

from .fakes import API_KEY, DEFAULT_POLICY, ClientFactory, FakeClock, Handler


@pytest.fixture
def settings() -> Settings:
    # Loopback base URL: requests go to an httpx.MockTransport and never leave the process.
    return Settings(nylas_api_key=SecretStr(API_KEY), nylas_api_url="http://127.0.0.1:9")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_client(settings: Settings, clock: FakeClock) -> AsyncIterator[ClientFactory]:
    """Build `NylasClient`s over fake upstream handlers, with the fake clock and no jitter."""
    http_clients: list[httpx.AsyncClient] = []

    def build(
        handler: Handler,
        *,
        api_key: ApiKeyProvider | None = None,
        retry: RetryPolicy = DEFAULT_POLICY,
    ) -> NylasClient:
        http = create_http_client(settings, transport=httpx.MockTransport(handler))
        http_clients.append(http)
        return NylasClient(
            http,
            api_key=api_key or StaticApiKey(SecretStr(API_KEY)),
            retry=retry,
            sleep=clock.sleep,
            clock=clock,
            random=lambda: 0.0,
        )

    yield build

    for http in http_clients:
        await http.aclose()
