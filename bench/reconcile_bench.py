"""Benchmark `grant-broker reconcile` on 100,000 grants and print the figures.

    uv run python -m bench.reconcile_bench [--grants 100000] [--rate 20] [--database-url URL]

Seeds the simulator's grant store and the `grants` table directly with `--grants` grants, of
which 0.1 % are orphans at Nylas, 0.1 % dangling records and 1 % status mismatches. The
simulator then serves its listing from a child process on 127.0.0.1, so this process's memory
is the reconciliation's own. Prints the time of the comparison and of `--apply`, the Nylas
calls, the seconds spent waiting for the simulator, and the resident memory before and at
the peak of the comparison. Without `--database-url`, a temporary SQLite file is used; a
given database must be empty.
"""

import argparse
import asyncio
import gc
import multiprocessing
import os
import platform
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import structlog
import uvicorn
from pydantic import SecretStr

from app.core.config import Environment, Settings
from app.core.database import create_engine, create_sessionmaker, utc_now
from app.core.migrations import upgrade_database
from app.nylas.client import NylasClient, RetryPolicy, StaticApiKey, create_http_client
from app.reconcile.apply import apply_fixes
from app.reconcile.compare import ReconcileConfig, Reconciler
from app.reconcile.findings import ReconcileReport
from app.simulator import NylasSimulator
from tests.status.seeding import seed_records, seed_simulator

API_KEY = "bench-simulator-key"
SEED_AGE = timedelta(days=1)
# Linux reports resident pages in /proc/self/statm, in units of the page size.
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class TimedTransport(httpx.AsyncHTTPTransport):
    """An HTTP transport adding up the seconds spent waiting for responses."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return await super().handle_async_request(request)
        finally:
            self.seconds += time.perf_counter() - started


class RssSampler:
    """Samples this process's resident memory every 20 ms in a thread; keeps the maximum."""

    def __init__(self) -> None:
        self.peak = current_rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, current_rss_mib())


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * _PAGE_SIZE / 2**20


@dataclass(frozen=True)
class Seeded:
    grant_ids: list[str]  # grants with a record, dangling ones included
    orphans: int
    dangling: int
    mismatches: int


@dataclass(frozen=True)
class Measurement:
    """Seconds of the comparison, of `--apply` and of waiting for the simulator, and the
    growth of resident memory from before the comparison to its peak, in MiB."""

    report: ReconcileReport
    compare_seconds: float
    apply_seconds: float
    simulator_seconds: float
    rss_growth_mib: float


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile_bench", description=__doc__)
    parser.add_argument("--grants", type=int, default=100_000, help="Grants to seed.")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="Nylas requests per second (the default, 20)."
    )
    parser.add_argument("--database-url", help="An empty database (default: temporary SQLite).")
    return parser.parse_args()


def _seed_simulator(simulator: NylasSimulator, grants: int) -> Seeded:
    created_at = utc_now() - SEED_AGE
    grant_ids = seed_simulator(simulator, grants, created_at=created_at)
    orphans = seed_simulator(simulator, grants // 1_000, created_at=created_at, prefix="orphan")
    dangling = grant_ids[::1_000]
    for grant_id in dangling:
        simulator.delete_grant(grant_id)
    mismatched = grant_ids[1::100]
    for grant_id in mismatched:
        simulator.expire_grant(grant_id)
    return Seeded(grant_ids, len(orphans), len(dangling), len(mismatched))


def _serve(simulator: NylasSimulator, port: int) -> None:
    uvicorn.run(simulator.app, host="127.0.0.1", port=port, log_level="critical")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v3/grants", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise SystemExit(f"bench.reconcile_bench: the simulator at {url} did not start")


def _settings(database_url: str, nylas_url: str) -> Settings:
    return Settings(
        env=Environment.DEVELOPMENT,
        database_url=database_url,
        nylas_api_url=nylas_url,
        nylas_api_key=SecretStr(API_KEY),
        log_level="WARNING",
    )


async def _measure(settings: Settings, rate: float) -> Measurement:
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    transport = TimedTransport()
    # One attempt per call: a 429 would fail the run instead of hiding in a retry.
    retry = RetryPolicy(max_attempts=1, budget=30.0, backoff_initial=0.5, backoff_max=8.0)
    async with create_http_client(settings, transport=transport) as http:
        nylas = NylasClient(http, api_key=StaticApiKey(SecretStr(API_KEY)), retry=retry)
        reconciler = Reconciler(sessionmaker, nylas, ReconcileConfig(requests_per_second=rate))
        gc.collect()
        rss_before = current_rss_mib()
        with RssSampler() as sampler:
            started = time.perf_counter()
            report = await reconciler.compare()
            compared = time.perf_counter() - started
        started = time.perf_counter()
        await apply_fixes(report, sessionmaker)
        applied = time.perf_counter() - started
    await engine.dispose()
    return Measurement(report, compared, applied, transport.seconds, sampler.peak - rss_before)


def _print_report(args: argparse.Namespace, seeded: Seeded, measured: Measurement) -> None:
    report = measured.report
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    counts = report.counts()
    print(
        f"grants: {args.grants:,} with records, {seeded.orphans:,} orphans, {seeded.dangling:,} "
        f"dangling, {seeded.mismatches:,} mismatches; rate {args.rate:g}/s; Python "
        f"{platform.python_version()}; load average {load}"
    )
    print(f"found: {counts}")
    print(
        f"compare: {measured.compare_seconds:.1f} s, {report.nylas_calls:,} Nylas calls "
        f"(pacing minimum {(report.nylas_calls - 1) / args.rate:.1f} s), "
        f"{measured.simulator_seconds:.1f} s waiting for the simulator"
    )
    print(f"apply: {measured.apply_seconds:.1f} s")
    print(f"resident memory: +{measured.rss_growth_mib:.0f} MiB at the peak of the comparison")


def main() -> None:
    args = _arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    simulator = NylasSimulator(api_keys=[API_KEY], rate_limit_per_second=50)
    seeded = _seed_simulator(simulator, args.grants)
    port = _free_port()
    # Forked after seeding, so the child serves the grants without copying them over a pipe.
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(simulator, port))
    child.start()
    del simulator
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}")
        with tempfile.TemporaryDirectory() as directory:
            database_url = (
                args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
            )
            upgrade_database(database_url)
            settings = _settings(database_url, f"http://127.0.0.1:{port}")
            measured = asyncio.run(_seed_and_measure(settings, seeded, args.rate))
    finally:
        child.terminate()
        child.join()
    _print_report(args, seeded, measured)


async def _seed_and_measure(settings: Settings, seeded: Seeded, rate: float) -> Measurement:
    engine = create_engine(settings.database_url)
    await seed_records(
        create_sessionmaker(engine), seeded.grant_ids, created_at=utc_now() - SEED_AGE
    )
    await engine.dispose()
    # The ids are no longer needed, and would count in the comparison's memory.
    seeded.grant_ids.clear()
    return await _measure(settings, rate)


if __name__ == "__main__":
    main()
