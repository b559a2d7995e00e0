"""Benchmark the broker's own overhead on `POST /v1/grants` when Nylas takes L seconds.

    uv run python -m bench.registration [--latency 0.05] [--duration 20] [--connections 32]
                                        [--workers 1]
                                        [--admin-url postgresql://grant_broker@127.0.0.1:5432/postgres]

Starts `grant-broker simulator` (its rate limit out of the way) with an injected latency L on
`POST /v3/connect/custom`, then measures with wrk, 32 connections, every request a new user and
mailbox:

1. the simulator alone (`POST /v3/connect/custom` straight to it): L plus its own work;
2. `grant-broker serve` (`--workers` uvicorn workers, production settings, mesh identity, a
   fresh PostgreSQL database migrated by `grant-broker migrate`) in front of the same
   simulator.

It prints the medians and p99s, the broker's median minus L (the goal is under 5 ms) and the
broker's median minus the simulator's median.
"""

import argparse
import asyncio
import secrets
import tempfile
from pathlib import Path

import httpx

from bench._support import (
    BENCH_XFCC,
    DEFAULT_ADMIN_URL,
    Server,
    WrkResult,
    broker_environment,
    cpu_seconds,
    database_url,
    drop_database,
    free_port,
    machine_description,
    migrate,
    recreate_database,
    run_wrk,
    serve_arguments,
    serve_process,
    simulator_process,
)

DATABASE_NAME = "grant_broker_bench_registration"
GOAL_OVERHEAD_MS = 5.0
WARM_UP_SECONDS = 3

# Every request registers a new user with a new mailbox, so each one mints a grant. wrk passes
# `-- TARGET XFCC API_KEY PREFIX` to init; TARGET is "broker" or "nylas".
REGISTRATION_SCRIPT = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local sent = 0
local target = "broker"
local prefix = "r"
local headers = {["Content-Type"] = "application/json"}
function init(args)
  target = args[1]
  if args[2] ~= "" then
    headers["X-Forwarded-Client-Cert"] = args[2]
  end
  if target == "nylas" then
    headers["Authorization"] = "Bearer " .. args[3]
  end
  prefix = args[4]
end

function request()
  sent = sent + 1
  local user = string.format("%s-%d-%d", prefix, id, sent)
  local token = string.format("sim:%s@example.com:1", user)
  if target == "nylas" then
    local body = string.format(
      '{"provider":"google","settings":{"refresh_token":"%s"}}', token)
    return wrk.format("POST", "/v3/connect/custom", headers, body)
  end
  local body = string.format(
    '{"user_id":"%s","provider":"google","settings":{"refresh_token":"%s"}}', user, token)
  return wrk.format("POST", "/v1/grants", headers, body)
end
"""


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="Nylas latency L, seconds.")
    parser.add_argument("--duration", type=int, default=20, help="Seconds per wrk run.")
    parser.add_argument("--connections", type=int, default=32, help="Concurrent registrations.")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the broker.")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL.")
    return parser.parse_args()


def _wrk(
    url: str, args: argparse.Namespace, *, target: str, api_key: str, prefix: str, duration: int
) -> WrkResult:
    return run_wrk(
        url,
        script=REGISTRATION_SCRIPT,
        # The broker needs no API key from wrk; "-" keeps the key out of the printed command.
        script_arguments=[
            target,
            BENCH_XFCC if target == "broker" else "",
            api_key if target == "nylas" else "-",
            prefix,
        ],
        connections=args.connections,
        threads=args.threads,
        duration=duration,
    )


def _measure(
    server: Server, args: argparse.Namespace, *, target: str, api_key: str
) -> tuple[WrkResult, float]:
    """Warm up, then measure; return wrk's result and the server's CPU ms per request."""
    url = server.base_url
    _wrk(url, args, target=target, api_key=api_key, prefix=f"w{target}", duration=WARM_UP_SECONDS)
    before = cpu_seconds(server.pid)
    result = _wrk(url, args, target=target, api_key=api_key, prefix=target, duration=args.duration)
    return result, (cpu_seconds(server.pid) - before) * 1000 / result.requests


def _inject_latency(simulator_url: str, latency: float) -> None:
    fault = {"operation": "connect_custom", "latency": latency, "times": None}
    response = httpx.post(f"{simulator_url}/_simulator/faults", json=fault, timeout=5)
    response.raise_for_status()


def _simulator_grants(simulator_url: str) -> int:
    response = httpx.get(f"{simulator_url}/_simulator/grants", timeout=30)
    response.raise_for_status()
    return len(response.json()["data"])


def _print_results(
    args: argparse.Namespace, nylas: tuple[WrkResult, float], broker: tuple[WrkResult, float]
) -> None:
    latency_ms = args.latency * 1000
    print(
        f"\n{'target':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
        f"{'errors':>7} {'CPU ms':>7}"
    )
    for label, (result, cpu_ms) in (("simulator alone", nylas), ("broker + simulator", broker)):
        print(
            f"{label:<22} {result.requests_per_second:>8.0f} {result.p50_ms:>8.2f} "
            f"{result.p99_ms:>8.2f} {result.non_2xx:>8} {result.socket_errors:>7} {cpu_ms:>7.3f}"
        )
    nylas_result, broker_result = nylas[0], broker[0]
    overhead_over_latency = broker_result.p50_ms - latency_ms
    overhead_over_simulator = broker_result.p50_ms - nylas_result.p50_ms
    print(
        f"\nL = {latency_ms:.1f} ms, {args.connections} concurrent registrations, "
        f"{args.workers} broker worker(s)"
    )
    print(f"broker median minus L: {overhead_over_latency:.2f} ms (goal < {GOAL_OVERHEAD_MS} ms)")
    print(f"broker median minus simulator median: {overhead_over_simulator:.2f} ms")
    print("CPU ms: the server's CPU time per request; the broker's excludes the simulator's")
    print(f"wrk command: {broker_result.command}")


def main() -> None:
    args = _parse_arguments()
    print(machine_description(), flush=True)
    api_key = secrets.token_urlsafe(24)

    with tempfile.TemporaryDirectory(prefix="bench-registration-") as directory:
        workdir = Path(directory)
        with simulator_process(workdir, api_key) as simulator:
            _inject_latency(simulator.base_url, args.latency)
            nylas = _measure(simulator, args, target="nylas", api_key=api_key)
            broker = _measure_broker(args, workdir, simulator.base_url, api_key)
            print(f"grants minted at the simulator: {_simulator_grants(simulator.base_url):,}")

    _print_results(args, nylas, broker)


def _measure_broker(
    args: argparse.Namespace, workdir: Path, simulator_url: str, api_key: str
) -> tuple[WrkResult, float]:
    asyncio.run(recreate_database(args.admin_url, DATABASE_NAME))
    url = database_url(args.admin_url, DATABASE_NAME)
    migrate(url)
    key_file = workdir / "nylas-api-key"
    key_file.write_text(api_key)
    environment = broker_environment(database_url=url, nylas_url=simulator_url, key_file=key_file)
    port = free_port()
    try:
        with serve_process(
            serve_arguments(port, workers=args.workers),
            port=port,
            environment=environment,
            log_path=workdir / "broker.log",
        ) as broker:
            return _measure(broker, args, target="broker", api_key=api_key)
    finally:
        asyncio.run(drop_database(args.admin_url, DATABASE_NAME))


if __name__ == "__main__":
    main()
