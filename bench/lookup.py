"""Benchmark `GET /v1/users/{user_id}/grant` on PostgreSQL against a bare Starlette ceiling.

    uv run python -m bench.lookup [--grants 1000000] [--small-grants 10000] [--duration 20]
                                  [--connections 64] [--threads 2] [--workers 1]
                                  [--auth mesh|none]
                                  [--admin-url postgresql://grant_broker@127.0.0.1:5432/postgres]

Needs wrk (`apt-get install -y wrk`) and a PostgreSQL role that may create databases. For each
size it creates a fresh database, migrates it with `grant-broker migrate` and seeds the grants
with one INSERT over generate_series. It then starts `grant-broker serve` (production settings,
mesh identity from an X-Forwarded-Client-Cert header that wrk sends) and loads it with wrk from
a separate process, each request for a random seeded user. The ceiling is `bench._ceiling`'s
bare Starlette route under the same uvicorn configuration (the same number of workers),
measured before and after the broker; its empty FastAPI route is measured too, as the most a
FastAPI route can do on this machine.

It prints requests per second, p50 and p99 for each server, the ratio to the ceiling and the
server's CPU time per request (from /proc, summed over the worker processes; other load on the
machine inflates it less than the rate). It
also prints the growth ratio (throughput at the large size over the small size) and the
broker's resident set size after each run.
"""

import argparse
import asyncio
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench._support import (
    BENCH_XFCC,
    DEFAULT_ADMIN_URL,
    Server,
    WrkResult,
    broker_environment,
    clean_environment,
    cpu_seconds,
    drop_database,
    free_port,
    machine_description,
    prepare_database,
    rss_mib,
    run_wrk,
    serve_arguments,
    serve_process,
)

# A port nothing listens on: lookups never call Nylas, and a call would fail loudly.
UNUSED_NYLAS_URL = "http://127.0.0.1:9"
WARM_UP_SECONDS = 5
GOAL_CEILING_RATIO = 0.5
GOAL_P99_MS = 25.0
GOAL_GROWTH_RATIO = 0.9

# Each wrk thread draws user ids from its own seeded generator; wrk passes `-- ARGS` to init.
LOOKUP_SCRIPT = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local user_count = 1
local headers = {}
function init(args)
  user_count = tonumber(args[1])
  if args[2] ~= "" then
    headers["X-Forwarded-Client-Cert"] = args[2]
  end
  math.randomseed(os.time() + 7919 * id)
end

function request()
  local path = string.format("/v1/users/u-%07d/grant", math.random(0, user_count - 1))
  return wrk.format("GET", path, headers)
end
"""


@dataclass(frozen=True)
class Run:
    """The figures of one measured server. `cpu_ms` is CPU time per request, in milliseconds."""

    label: str
    result: WrkResult
    cpu_ms: float
    rss_mib: float | None = None


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grants", type=int, default=1_000_000, help="Grants of the large run.")
    parser.add_argument(
        "--small-grants", type=int, default=10_000, help="Grants of the growth comparison."
    )
    parser.add_argument("--duration", type=int, default=20, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections.")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers of every server measured."
    )
    parser.add_argument(
        "--auth",
        choices=["mesh", "none"],
        default="mesh",
        help="mesh: production identity checks; none: development mode without them.",
    )
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL.")
    return parser.parse_args()


def _wrk(url: str, args: argparse.Namespace, user_count: int, duration: int) -> WrkResult:
    xfcc = BENCH_XFCC if args.auth == "mesh" else ""
    return run_wrk(
        url,
        script=LOOKUP_SCRIPT,
        script_arguments=[str(user_count), xfcc],
        connections=args.connections,
        threads=args.threads,
        duration=duration,
    )


def _measure(server: Server, args: argparse.Namespace, user_count: int) -> tuple[WrkResult, float]:
    """Warm the server up, then measure it; return wrk's result and CPU ms per request."""
    _wrk(server.base_url, args, user_count, WARM_UP_SECONDS)
    before = cpu_seconds(server.pid)
    result = _wrk(server.base_url, args, user_count, args.duration)
    cpu_ms = (cpu_seconds(server.pid) - before) * 1000 / result.requests
    return result, cpu_ms


def _measure_ceiling(
    args: argparse.Namespace, workdir: Path, label: str, framework: str = "starlette"
) -> Run:
    port = free_port()
    with serve_process(
        [
            *("-m", "bench._ceiling", "--port", str(port)),
            *("--framework", framework, "--workers", str(args.workers)),
        ],
        port=port,
        environment=clean_environment(),
        log_path=workdir / f"ceiling-{port}.log",
    ) as server:
        return Run(label, *_measure(server, args, args.grants))


@contextmanager
def _broker(args: argparse.Namespace, workdir: Path, database_url: str) -> Iterator[Server]:
    key_file = workdir / "nylas-api-key"
    key_file.write_text(secrets.token_urlsafe(24))
    extra = {"GRANT_BROKER_ENV": "development", "GRANT_BROKER_AUTH_MODE": "none"}
    environment = broker_environment(
        database_url=database_url,
        nylas_url=UNUSED_NYLAS_URL,
        key_file=key_file,
        **(extra if args.auth == "none" else {}),
    )
    port = free_port()
    with serve_process(
        serve_arguments(port, workers=args.workers),
        port=port,
        environment=environment,
        log_path=workdir / f"broker-{port}.log",
    ) as server:
        yield server


def _measure_broker(args: argparse.Namespace, workdir: Path, grants: int) -> Run:
    name = f"grant_broker_bench_{grants}"
    database_url = prepare_database(args.admin_url, name, grants)
    try:
        with _broker(args, workdir, database_url) as server:
            result, cpu_ms = _measure(server, args, grants)
            return Run(f"broker, {grants:,} grants", result, cpu_ms, rss_mib(server.pid))
    finally:
        asyncio.run(drop_database(args.admin_url, name))


def _print_runs(runs: list[Run], ceiling_rps: float) -> None:
    print(
        f"\n{'server':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ceiling':>8} "
        f"{'non-2xx':>8} {'errors':>7} {'CPU ms':>7} {'RSS MiB':>8}"
    )
    for run in runs:
        result = run.result
        rss = f"{run.rss_mib:.1f}" if run.rss_mib is not None else "-"
        print(
            f"{run.label:<28} {result.requests_per_second:>9.0f} {result.p50_ms:>8.2f} "
            f"{result.p99_ms:>8.2f} {result.requests_per_second / ceiling_rps:>8.2f} "
            f"{result.non_2xx:>8} {result.socket_errors:>7} {run.cpu_ms:>7.3f} {rss:>8}"
        )


def _print_goals(small: Run, large: Run, ceiling_rps: float) -> None:
    ratio = large.result.requests_per_second / ceiling_rps
    growth = large.result.requests_per_second / small.result.requests_per_second
    print(f"\nratio to ceiling at the large size: {ratio:.2f} (goal >= {GOAL_CEILING_RATIO})")
    print(f"p99 at the large size: {large.result.p99_ms:.2f} ms (goal < {GOAL_P99_MS} ms)")
    print(f"growth ratio, large over small: {growth:.2f} (goal > {GOAL_GROWTH_RATIO})")
    print(f"wrk command: {large.result.command}")


def main() -> None:
    args = _parse_arguments()
    print(machine_description(), flush=True)
    print(f"identity: {args.auth}, uvicorn workers: {args.workers}", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as directory:
        workdir = Path(directory)
        before = _measure_ceiling(args, workdir, "ceiling (before)")
        floor = _measure_ceiling(args, workdir, "empty FastAPI route", "fastapi")
        small = _measure_broker(args, workdir, args.small_grants)
        large = _measure_broker(args, workdir, args.grants)
        after = _measure_ceiling(args, workdir, "ceiling (after)")

    ceiling_rps = (before.result.requests_per_second + after.result.requests_per_second) / 2
    _print_runs([before, floor, small, large, after], ceiling_rps)
    _print_goals(small, large, ceiling_rps)


if __name__ == "__main__":
    main()
