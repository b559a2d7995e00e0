"""`kill -9` of `grant-broker serve` during registrations under load, then a restart.

The simulator runs as its own process (`grant-broker simulator`), so it outlives the broker and
keeps every grant it minted. Nylas takes 0.2 s per registration, so at the moment of the kill
many registrations have a minted grant at Nylas and nothing in the database yet. After the
restart every grant the simulator minted must be accounted for: bound to the user who asked
for it, or an orphan whose registration never got a success response. `grant-broker reconcile`
must report every orphan. Re-registering an orphan's user with the same mailbox then binds the
orphan, because Nylas returns the same grant id for a mailbox.
"""

import asyncio
import itertools
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.core.database import create_engine
from app.core.migrations import upgrade_database
from tests.process.servers import PROJECT_ROOT, RunningCommand, free_port, run_command
from tests.reliability.conftest import broker_environment

WORKERS = 32
LOAD_SECONDS = 1.5
NYLAS_LATENCY = 0.2


@dataclass
class Load:
    """Registrations of new users, each with its own mailbox, and what each one got back."""

    http: httpx.AsyncClient
    acknowledged: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _stopped: bool = False

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(WORKERS)))

    def stop(self) -> None:
        self._stopped = True

    async def _worker(self) -> None:
        while not self._stopped:
            user_id = f"crash-{next(self._numbers)}"
            body = {
                "user_id": user_id,
                "provider": "google",
                "settings": {"refresh_token": f"sim:{user_id}@example.com:1"},
            }
            try:
                response = await self.http.post("/v1/grants", json=body)
            except httpx.TransportError:
                self.failed.add(user_id)
                continue
            if response.status_code == 201:
                self.acknowledged[user_id] = response.json()["grant_id"]
            else:
                self.failed.add(user_id)


@pytest.fixture(params=["sqlite", "postgres"])
def crash_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("fresh_postgres_url")
        return url
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    upgrade_database(url)
    return url


async def load_then_kill(broker: RunningCommand) -> Load:
    """Register users from 32 workers, SIGKILL the broker mid-load, return the outcomes."""
    limits = httpx.Limits(max_connections=WORKERS)
    async with httpx.AsyncClient(base_url=broker.base_url, limits=limits, timeout=10) as http:
        load = Load(http)
        task = asyncio.create_task(load.run())
        await asyncio.sleep(LOAD_SECONDS)
        broker.process.kill()
        broker.process.wait()
        load.stop()
        await task
    return load


async def stored_grants(database_url: str) -> dict[str, str]:
    """Return grant id by user id, read from the database directly."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT user_id, grant_id FROM grants"))).all()
            events = await connection.execute(
                text("SELECT user_id, grant_id FROM grant_events WHERE type = 'grant.registered'")
            )
            registered = {(user_id, grant_id) for user_id, grant_id in events.all()}
    finally:
        await engine.dispose()
    stored: dict[str, str] = dict(rows)
    # Each record was committed with its event, in one transaction.
    assert set(stored.items()) == registered, "records and registration events disagree"
    return stored


def set_latency(nylas: RunningCommand, seconds: float | None) -> None:
    """Delay every `POST /v3/connect/custom` by `seconds` after it took effect; None clears."""
    faults = f"{nylas.base_url}/_simulator/faults"
    if seconds is None:
        httpx.delete(faults, timeout=5).raise_for_status()
        return
    fault = {"operation": "connect_custom", "latency": seconds, "times": None}
    httpx.post(faults, json=fault, timeout=5).raise_for_status()


def minted_grants(nylas: RunningCommand) -> dict[str, str]:
    """Return grant id by mailbox, from the simulator's grant list."""
    response = httpx.get(f"{nylas.base_url}/_simulator/grants", timeout=10)
    return {grant["email"]: grant["id"] for grant in response.json()["data"]}


def run_reconcile(environment: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "reconcile", "--format", "json"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


async def test_kill_during_registrations(
    crash_database_url: str, nylas_process: RunningCommand, tmp_path: Path
) -> None:
    set_latency(nylas_process, NYLAS_LATENCY)
    environment = broker_environment(crash_database_url, nylas_process, tmp_path)
    port = free_port()
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]

    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as broker:
        load = await load_then_kill(broker)
    set_latency(nylas_process, None)

    stored = await stored_grants(crash_database_url)
    minted = minted_grants(nylas_process)
    orphans = {
        mailbox: grant_id
        for mailbox, grant_id in minted.items()
        if grant_id not in set(stored.values())
    }
    # Every acknowledged registration survived the kill.
    for user_id, grant_id in load.acknowledged.items():
        assert stored.get(user_id) == grant_id, f"acknowledged registration of {user_id} lost"
    # Every record points to a grant that exists at Nylas.
    assert set(stored.values()) <= set(minted.values())
    # Every orphan belongs to a registration that got no success response.
    orphan_users = {mailbox.split("@")[0] for mailbox in orphans}
    assert orphan_users <= load.failed
    assert orphans, "the kill hit no registration between Nylas and the commit; nothing proven"

    report = run_reconcile(environment)
    for grant_id in orphans.values():
        assert grant_id in report, f"grant-broker reconcile did not report orphan {grant_id}"

    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as broker:
        await rebind_orphans(broker, orphans)

    assert set((await stored_grants(crash_database_url)).values()) == set(minted.values())


async def rebind_orphans(broker: RunningCommand, orphans: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        for mailbox, grant_id in orphans.items():
            body: dict[str, Any] = {
                "user_id": mailbox.split("@")[0],
                "provider": "google",
                "settings": {"refresh_token": f"sim:{mailbox}:1"},
            }
            response = await http.post("/v1/grants", json=body)
            assert response.status_code == 201, response.text
            assert response.json()["grant_id"] == grant_id
