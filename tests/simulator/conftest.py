"""Fixtures for the simulator's own tests: a simulator on fake clocks and a client for it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.simulator import NylasSimulator

API_KEY = "key-a"
# 2025-12-04T00:00:00Z, in Unix seconds.
START_TIME = 1_764_806_400
BASE_URL = "http://nylas.test"


class FakeClock:
    """A clock that moves only when the test advances it."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall_clock() -> FakeClock:
    return FakeClock(START_TIME)


@pytest.fixture
def monotonic_clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def sim(wall_clock: FakeClock, monotonic_clock: FakeClock) -> NylasSimulator:
    return NylasSimulator(
        api_keys=[API_KEY], wall_clock=wall_clock, monotonic_clock=monotonic_clock
    )


@pytest.fixture
async def nylas(sim: NylasSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends Nylas requests with the accepted API key, in-process."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=sim.transport(), base_url=BASE_URL, headers=headers
    ) as client:
        yield client


@pytest.fixture
async def control(sim: NylasSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the control API, which needs no API key."""
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE_URL) as client:
        yield client
