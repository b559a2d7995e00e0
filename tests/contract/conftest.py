"""Fixtures for the contract tests: a simulator and a client that sends Nylas requests to it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.simulator import NylasSimulator

API_KEY = "contract-key"
BASE_URL = "http://nylas.test"


@pytest.fixture
def sim() -> NylasSimulator:
    return NylasSimulator(api_keys=[API_KEY])


@pytest.fixture
async def nylas(sim: NylasSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        yield client
