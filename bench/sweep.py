"""Benchmark the status sweeps against the Nylas simulator and print the figures.

    uv run python -m bench.sweep [--grants 100000] [--invalid-share 0.01]
                                 [--requests-per-second 10] [--database-url URL]

Seeds the simulator's grant store and the `grants` table directly, then runs one invalid sweep
and one full sweep. It prints the Nylas calls and wall time of each, next to what per-grant
polling (`GET /v3/grants/{id}` for every grant) would need at the same request rate. The
simulator runs in-process, so its time to serve each page is part of the wall time; the
figures show it separately. Without `--database-url`, a temporary SQLite file is used; a given
database must be empty.
"""

import argparse
import asyncio
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import structlog
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import select

from app.core.config import Environment, Settings
from app.core.database import create_engine, create_sessionmaker, utc_now
from app.core.migrations import upgrade_database
from app.grants.models import Grant
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client
from app.simulator import NylasSimulator
from app.status.guard import MassInvalidationGuard
from app.status.sweep import StatusSweeper, SweepConfig, SweepKind, SweepResult
from tests.status.seeding import seed_records, seed_simulator

API_KEY = "bench-simulator-key"
SEED_AGE_SECONDS = 86_400


class TimedTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, adding up the seconds spent serving requests."""

    def __init__(self, simulator: NylasSimulator) -> None:
        self._inner = simulator.transport()
        self.seconds = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return await self._inner.handle_async_request(request)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class Measurement:
    name: str
    result: SweepResult
    wall_seconds: float
    simulator_seconds: float


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parser.add_argument("--grants", type=int, default=100_000, help="Grants to seed.")
    parser.add_argument(
        "--invalid-share", type=float, default=0.01, help="Share of grants that are invalid."
    )
    parser.add_argument(
        "--requests-per-second",
        type=float,
        default=10.0,
        help="The sweep's request budget (the service's default is 10).",
    )
    parser.add_argument(
        "--database-url", help="An empty, migrated or new database (default: temporary SQLite)."
    )
    return parser.parse_args()


def _settings(database_url: str) -> Settings:
    return Settings(
        env=Environment.DEVELOPMENT,
        database_url=database_url,
        nylas_api_url="http://nylas.bench",
        nylas_api_key=SecretStr(API_KEY),
        log_level="WARNING",
    )


async def _seed(
    simulator: NylasSimulator, settings: Settings, grants: int, invalid_share: float
) -> None:
    created_at = utc_now() - timedelta(seconds=SEED_AGE_SECONDS)
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            existing = (await session.exec(select(func.count()).select_from(Grant))).one()
        if existing:
            raise SystemExit(
                f"bench.sweep: the database is not empty: it contains {existing} grants. "
                "Pass an empty database, or omit --database-url for a temporary one."
            )
        grant_ids = seed_simulator(simulator, grants, created_at=created_at)
        await seed_records(sessionmaker, grant_ids, created_at=created_at)
    finally:
        await engine.dispose()

    step = round(1 / invalid_share) if invalid_share > 0 else 0
    for grant_id in grant_ids[::step] if step else []:
        simulator.expire_grant(grant_id)


async def _measure(
    name: str, kind: SweepKind, settings: Settings, simulator: NylasSimulator, rate: float
) -> Measurement:
    transport = TimedTransport(simulator)
    engine = create_engine(settings.database_url)
    # One attempt per call: a 429 would fail the sweep instead of hiding in a retry.
    retry = RetryPolicy(max_attempts=1, budget=30.0, backoff_initial=0.5, backoff_max=8.0)
    async with create_http_client(settings, transport=transport) as http:
        nylas = NylasClient(http, api_key=StaticApiKey(SecretStr(API_KEY)), retry=retry)
        guard = MassInvalidationGuard(share=0.2, window=900.0, min_grants=20)
        config = SweepConfig(requests_per_second=rate, lease_ttl=120.0)
        sweeper = StatusSweeper(create_sessionmaker(engine), nylas, guard, config)
        started = time.perf_counter()
        result = await sweeper.run(kind)
        wall = time.perf_counter() - started
    await engine.dispose()

    if result is None or result.skipped_lease_held:
        raise SystemExit(
            "bench.sweep: another process holds the sweep lease of this database. "
            "Wait for its sweep to end, or use another database."
        )
    return Measurement(name, result, wall, transport.seconds)


def _print_report(
    measurements: list[Measurement], *, grants: int, invalid: int, rate: float, database: str
) -> None:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"grants: {grants:,} ({invalid:,} invalid), budget {rate:g} requests/s, "
        f"page size 200, database {database}, Python {platform.python_version()}, "
        f"load average {load}"
    )
    header = (
        f"{'':<20}{'Nylas calls':>12}{'wall time':>12}{'in simulator':>14}"
        f"{'pacing minimum':>16}{'changes':>10}"
    )
    print(header)
    for m in measurements:
        changes = sum(m.result.changes.values())
        # The pacer lets the first call go at once and spaces the others by 1 / rate.
        pacing = (m.result.nylas_calls - 1) / rate
        print(
            f"{m.name:<20}{m.result.nylas_calls:>12,}{m.wall_seconds:>11.1f}s"
            f"{m.simulator_seconds:>13.1f}s{pacing:>15.1f}s{changes:>10,}"
        )
    # Computed, not run: one lookup per grant at the same budget.
    print(
        f"{'per-grant polling':<20}{grants:>12,}{grants / rate:>11.0f}s  (computed: calls / budget)"
    )


async def _main() -> None:
    args = _arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory() as directory:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await asyncio.to_thread(upgrade_database, database_url)
        settings = _settings(database_url)
        simulator = NylasSimulator(api_keys=[API_KEY])
        await _seed(simulator, settings, args.grants, args.invalid_share)
        invalid = sum(
            1 for grant in simulator.grants.values() if grant["grant_status"] == "invalid"
        )

        rate = args.requests_per_second
        measurements = [
            await _measure("invalid sweep", SweepKind.INVALID, settings, simulator, rate),
            await _measure("full sweep", SweepKind.FULL, settings, simulator, rate),
        ]
        database = settings.database_url.split(":", 1)[0]
        _print_report(
            measurements, grants=args.grants, invalid=invalid, rate=rate, database=database
        )


if __name__ == "__main__":
    asyncio.run(_main())
