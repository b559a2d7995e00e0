"""Several replicas sweeping one database: one sweeps at a time, within the request budget."""

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.grants.models import GrantStatus
from app.simulator import NylasSimulator
from app.status.lease import LeaseRepository
from app.status.sweep import LEASE_NAME, StatusSweeper, SweepConfig, SweepKind, SweepResult
from tests.conftest import TEST_API_KEY, _empty_tables
from tests.status.conftest import (
    eventually,
    new_guard,
    seed_time,
    single_attempt_client,
    stored_grants,
)
from tests.status.seeding import seed_records, seed_simulator

REPO_ROOT = Path(__file__).resolve().parents[2]
BUDGET = 20.0
# Half as much again as one sweeper's budget: two sweepers at once would get 429s, and a 429
# fails a sweep because the test clients never retry.
SIMULATOR_LIMIT = 30


def _overlaps(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    ordered = sorted(intervals)
    return [
        (current[0], previous[1])
        for previous, current in itertools.pairwise(ordered)
        if current[0] < previous[1]
    ]


async def _seed(
    simulator: NylasSimulator, sessionmaker: async_sessionmaker[AsyncSession], count: int
) -> list[str]:
    grant_ids = seed_simulator(simulator, count, created_at=seed_time())
    await seed_records(sessionmaker, grant_ids, created_at=seed_time())
    for grant_id in grant_ids[::50]:
        simulator.expire_grant(grant_id)
    return grant_ids


async def _sweep_for(sweeper: StatusSweeper, seconds: float) -> list[SweepResult]:
    results = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await sweeper.run(SweepKind.FULL)
        assert result is not None
        results.append(result)
        await asyncio.sleep(0.01)
    return results


async def test_three_sweepers_one_at_a_time(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    simulator = NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=SIMULATOR_LIMIT)
    grant_ids = await _seed(simulator, sessionmaker, 1_000)
    engines = [create_engine(settings.database_url) for _ in range(3)]
    clients = [single_attempt_client(settings, simulator.transport()) for _ in engines]
    sweepers = [
        StatusSweeper(
            create_sessionmaker(engine),
            nylas,
            new_guard(),
            SweepConfig(requests_per_second=BUDGET, lease_ttl=5.0),
        )
        for engine, (_, nylas) in zip(engines, clients, strict=True)
    ]

    try:
        outcomes = await asyncio.gather(*(_sweep_for(sweeper, 1.5) for sweeper in sweepers))
    finally:
        for http, _ in clients:
            await http.aclose()
        for engine in engines:
            await engine.dispose()

    results = [result for outcome in outcomes for result in outcome]
    swept = [result for result in results if not result.skipped_lease_held]
    intervals = [
        (result.started_at.timestamp(), result.started_at.timestamp() + result.duration)
        for result in swept
    ]
    assert len(swept) >= 3
    assert any(result.skipped_lease_held for result in results)
    assert _overlaps(intervals) == []
    assert sum(result.nylas_calls for result in swept) == simulator.call_count("list_grants")
    stored = await stored_grants(sessionmaker)
    assert {gid for gid, g in stored.items() if g.grant_status == GrantStatus.INVALID} == set(
        grant_ids[::50]
    )


@pytest.fixture
def served_simulator() -> Iterator[tuple[NylasSimulator, str]]:
    """Serve a simulator with uvicorn on 127.0.0.1 and a free port. Yield it and its URL."""
    simulator = NylasSimulator(api_keys=[TEST_API_KEY], rate_limit_per_second=SIMULATOR_LIMIT)
    config = uvicorn.Config(
        simulator.app, host="127.0.0.1", port=0, lifespan="off", log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 10 seconds")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    yield simulator, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def postgres_sessionmaker(
    postgres_url: str,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(postgres_url)
    yield create_sessionmaker(engine)
    await engine.dispose()
    await _empty_tables(postgres_url)


def _replica_env(database_url: str, nylas_url: str, **settings: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GRANT_BROKER_") and "proxy" not in name.lower()
    }
    configured = {f"GRANT_BROKER_{name.upper()}": value for name, value in settings.items()}
    return {
        **inherited,
        "PYTHONPATH": str(REPO_ROOT),
        "GRANT_BROKER_ENV": "development",
        "GRANT_BROKER_DATABASE_URL": database_url,
        "GRANT_BROKER_NYLAS_API_URL": nylas_url,
        "GRANT_BROKER_NYLAS_API_KEY": TEST_API_KEY,
        # One attempt per call: a 429 fails the sweep instead of being retried.
        "GRANT_BROKER_NYLAS_MAX_ATTEMPTS": "1",
        "GRANT_BROKER_LOG_LEVEL": "WARNING",
        **configured,
    }


def _start_replica(
    env: dict[str, str], output: Path, seconds: float, start_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a replica that writes its records to `output` and its log to `output`.log."""
    command = [sys.executable, "-m", "tests.status.sweeper_process", str(output), str(seconds)]
    if start_file is not None:
        command.append(str(start_file))
    with output.with_suffix(".log").open("wb") as log_file:
        return subprocess.Popen(  # noqa: S603 (fixed command)
            command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )


def _records(output: Path) -> list[dict[str, object]]:
    if not output.exists():
        return []
    return [json.loads(line) for line in output.read_text().splitlines()]


@pytest.mark.postgres
async def test_replica_processes_take_over(
    served_simulator: tuple[NylasSimulator, str],
    postgres_url: str,
    postgres_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    simulator, nylas_url = served_simulator
    sessionmaker = postgres_sessionmaker
    grant_ids = await _seed(simulator, sessionmaker, 1_000)
    start_file = tmp_path / "start"
    outputs = [tmp_path / f"replica-{index}.jsonl" for index in range(2)]

    # Three broker processes. The first sweeps at two seconds per request, so it is still
    # sweeping when it is killed. Its lease lasts two seconds past its last renewal.
    crashing_env = _replica_env(
        postgres_url, nylas_url, sweep_requests_per_second="0.5", sweep_lease_ttl="2"
    )
    crashing = _start_replica(crashing_env, tmp_path / "crashing.jsonl", 60)
    # The two others start together, once both are loaded.
    env = _replica_env(
        postgres_url, nylas_url, sweep_requests_per_second=str(BUDGET), sweep_lease_ttl="3"
    )
    replicas = [_start_replica(env, output, 5, start_file) for output in outputs]

    async def crashing_holds_lease() -> bool:
        async with sessionmaker() as session:
            lease = await LeaseRepository(session).get(LEASE_NAME)
        return lease is not None and f":{crashing.pid}:" in lease.holder

    async def replicas_ready() -> bool:
        return all(output.with_suffix(".ready").exists() for output in outputs)

    async def replicas_skipped() -> bool:
        return all(_records(output) for output in outputs)

    try:
        await eventually(
            crashing_holds_lease, seconds=60, what="the first replica to take the lease"
        )
        await eventually(replicas_ready, seconds=60, what="the other replicas to load")
        start_file.touch()
        await eventually(replicas_skipped, seconds=30, what="the other replicas to try the lease")
        crashing.send_signal(signal.SIGKILL)
        crashing.wait()
        async with sessionmaker() as session:
            crashed_lease = await LeaseRepository(session).get(LEASE_NAME)
        for replica, output in zip(replicas, outputs, strict=True):
            replica.wait(timeout=60)
            assert replica.returncode == 0, output.with_suffix(".log").read_text()
    finally:
        for process in [crashing, *replicas]:
            if process.poll() is None:
                process.kill()
                process.wait()

    records = [record for output in outputs for record in _records(output)]
    failures = [record for record in records if "failed" in record]
    swept = [record for record in records if "failed" not in record and not record["skipped"]]
    intervals = [
        (float(record["started_at"]), float(record["started_at"]) + float(record["duration"]))  # type: ignore[arg-type]
        for record in swept
    ]
    assert crashed_lease is not None
    assert f":{crashing.pid}:" in crashed_lease.holder
    assert failures == []
    assert len(swept) >= 2
    # No replica swept before the killed replica's lease expired, and never two at once.
    assert min(start for start, _ in intervals) >= crashed_lease.expires_at.timestamp()
    assert _overlaps(intervals) == []
    stored = await stored_grants(sessionmaker)
    assert {gid for gid, g in stored.items() if g.grant_status == GrantStatus.INVALID} == set(
        grant_ids[::50]
    )
