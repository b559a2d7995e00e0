"""Benchmark `grant-broker import` against the Nylas simulator and print the figures.

    uv run python -m bench.import_bench [--rows 10000] [--rate 45] [--concurrency 8]
                                        [--latency 0.1] [--limit 50] [--database-url URL]

Writes a JSON Lines file of Google rows, then imports it in process (as `grant-broker import`
does without --url) against an in-process simulator that enforces Nylas's per-application
limit (`--limit` requests per second) and responds to every `POST /v3/connect/custom` after
`--latency` seconds. Prints the achieved rate of connect requests next to the configured
rate, the 429 responses, the retries, the wall time and the peak resident memory of the
process. The simulator and the database run in the same process, so their work and memory
are part of the figures. Without `--database-url`, a temporary SQLite file is used.
"""

import argparse
import asyncio
import io
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import httpx
import structlog
from pydantic import SecretStr

from app.core.config import Environment, Settings
from app.core.migrations import upgrade_database
from app.imports.importer import ImportOptions, ImportReport, run_import
from app.imports.rows import FileFormat
from app.simulator import NylasSimulator

API_KEY = "bench-simulator-key"


class CountingTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, noting when each connect request starts and its status."""

    def __init__(self, simulator: NylasSimulator) -> None:
        self._inner = simulator.transport()
        self.starts: list[float] = []
        self.statuses: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/connect/custom":
            self.starts.append(time.monotonic())
        response = await self._inner.handle_async_request(request)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.import_bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000, help="Rows to import.")
    parser.add_argument("--rate", type=float, default=45.0, help="The import's --rate.")
    parser.add_argument("--concurrency", type=int, default=8, help="The import's --concurrency.")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="Seconds the simulator takes per connect."
    )
    parser.add_argument(
        "--limit", type=int, default=50, help="The simulator's requests per second (Nylas: 50)."
    )
    parser.add_argument("--database-url", help="An empty database (default: temporary SQLite).")
    return parser.parse_args()


def _write_rows(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as file:
        for index in range(rows):
            row = {
                "user_id": f"user-{index:06d}",
                "provider": "google",
                "settings": {"refresh_token": f"sim:user-{index:06d}@example.com:bench"},
            }
            file.write(json.dumps(row) + "\n")


def _settings(database_url: str) -> Settings:
    return Settings(
        env=Environment.DEVELOPMENT,
        database_url=database_url,
        nylas_api_url="http://nylas.bench",
        nylas_api_key=SecretStr(API_KEY),
        log_level="WARNING",
    )


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _print_report(
    args: argparse.Namespace,
    report: ImportReport,
    transport: CountingTransport,
    wall: float,
    rss_before: float,
) -> None:
    starts = transport.starts
    span = starts[-1] - starts[0] if len(starts) > 1 else 0.0
    achieved = (len(starts) - 1) / span if span > 0 else 0.0
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    counts = {str(outcome): count for outcome, count in report.tally.counts.items()}
    print(
        f"rows: {args.rows:,}, rate {args.rate:g}/s, concurrency {args.concurrency}, "
        f"connect latency {args.latency:g} s, simulator limit {args.limit}/s, "
        f"Python {platform.python_version()}, load average {load}"
    )
    print(f"outcomes: {counts}, exit status {report.exit_status}")
    print(f"wall time: {wall:.1f} s ({args.rows / wall:.1f} rows/s)")
    print(
        f"connect requests: {len(starts):,}, achieved {achieved:.2f}/s between the first and "
        f"last ({achieved / args.rate:.1%} of the configured {args.rate:g}/s)"
    )
    print(f"responses by status: {dict(sorted(transport.statuses.items()))}")
    print(f"429 responses: {transport.statuses.get(429, 0)}, retries: {len(starts) - args.rows}")
    print(f"peak RSS: {_peak_rss_mib():.0f} MiB (before the import: {rss_before:.0f} MiB)")


async def _main() -> None:
    args = _arguments()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory() as directory:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await asyncio.to_thread(upgrade_database, database_url)
        file = Path(directory) / "users.jsonl"
        _write_rows(file, args.rows)

        simulator = NylasSimulator(api_keys=[API_KEY], rate_limit_per_second=args.limit)
        simulator.inject_fault(operation="connect_custom", latency=args.latency, times=None)
        transport = CountingTransport(simulator)
        options = ImportOptions(
            file=file,
            file_format=FileFormat.JSONL,
            results=Path(directory) / "results.jsonl",
            rate=args.rate,
            concurrency=args.concurrency,
        )
        rss_before = _peak_rss_mib()
        started = time.perf_counter()
        report = await run_import(
            _settings(database_url),
            options,
            nylas_transport=transport,
            progress_stream=io.StringIO(),
        )
        wall = time.perf_counter() - started

    _print_report(args, report, transport, wall, rss_before)


if __name__ == "__main__":
    asyncio.run(_main())
