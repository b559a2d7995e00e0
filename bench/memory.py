"""Measure the broker's resident set size over a long mixed load.

    uv run python -m bench.memory [--duration 300] [--warm-up 30] [--workers 8] [--interval 10]
                                  [--admin-url postgresql://grant_broker@127.0.0.1:5432/postgres]

Starts `grant-broker simulator` (rate limit out of the way) and `grant-broker serve` (one worker,
production settings, mesh identity, a fresh PostgreSQL database migrated by
`grant-broker migrate`). The load is `tests.reliability.traffic` in its own process: concurrent
user life cycles over every public route (register, look up, re-register, live status check,
list, events, replace, offboard). After a warm-up, the broker's RSS is sampled every
`--interval` seconds. The script prints the samples, the growth from the first sample after the
warm-up to the last, and the traffic's own summary (requests and unexpected responses).
"""

import argparse
import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._support import (
    BENCH_XFCC,
    DEFAULT_ADMIN_URL,
    PROJECT_ROOT,
    Server,
    broker_environment,
    clean_environment,
    database_url,
    drop_database,
    free_port,
    machine_description,
    migrate,
    recreate_database,
    rss_mib,
    serve_arguments,
    serve_process,
    simulator_process,
)

DATABASE_NAME = "grant_broker_bench_memory"


def _parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=300, help="Seconds of measured load.")
    parser.add_argument("--warm-up", type=int, default=30, help="Seconds of load before it.")
    parser.add_argument("--workers", type=int, default=8, help="Concurrent user life cycles.")
    parser.add_argument("--interval", type=float, default=10, help="Seconds between samples.")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL.")
    return parser.parse_args()


def _start_traffic(url: str, args: argparse.Namespace, duration: int, prefix: str) -> "Traffic":
    command = [
        *(sys.executable, "-m", "tests.reliability.traffic", "--url", url),
        *("--duration", str(duration), "--workers", str(args.workers)),
        *("--xfcc", BENCH_XFCC, "--prefix", prefix),
    ]
    process = subprocess.Popen(  # noqa: S603 (the project's own traffic generator)
        command, cwd=PROJECT_ROOT, env=clean_environment(), stdout=subprocess.PIPE, text=True
    )
    return Traffic(process)


class Traffic:
    """The traffic generator's process; `summary` waits for it and parses its JSON line."""

    def __init__(self, process: "subprocess.Popen[str]") -> None:
        self.process = process

    def running(self) -> bool:
        return self.process.poll() is None

    def summary(self) -> dict[str, object]:
        output, _ = self.process.communicate()
        result: dict[str, object] = json.loads(output.strip().splitlines()[-1])
        return result


def _sample(broker: Server, traffic: Traffic, interval: float) -> list[tuple[float, float]]:
    """Return (seconds since start, RSS MiB) pairs until the traffic process ends."""
    started = time.monotonic()
    samples = [(0.0, rss_mib(broker.pid))]
    while traffic.running():
        time.sleep(interval)
        samples.append((time.monotonic() - started, rss_mib(broker.pid)))
    return samples


def _print_report(samples: list[tuple[float, float]], summary: dict[str, object]) -> None:
    print("\nseconds  RSS MiB")
    for seconds, rss in samples:
        print(f"{seconds:7.0f}  {rss:7.1f}")
    first, last = samples[0][1], samples[-1][1]
    peak = max(rss for _, rss in samples)
    print(f"\nRSS after warm-up {first:.1f} MiB, at the end {last:.1f} MiB, peak {peak:.1f} MiB")
    print(f"growth over the load: {last - first:+.1f} MiB ({(last - first) / first:+.1%})")
    print(f"traffic: {json.dumps(summary)}")


def main() -> None:
    args = _parse_arguments()
    print(machine_description(), flush=True)
    api_key = secrets.token_urlsafe(24)

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as directory:
        workdir = Path(directory)
        with simulator_process(workdir, api_key) as simulator:
            samples, summary = _run_broker(args, workdir, simulator.base_url, api_key)

    _print_report(samples, summary)


def _run_broker(
    args: argparse.Namespace, workdir: Path, simulator_url: str, api_key: str
) -> tuple[list[tuple[float, float]], dict[str, object]]:
    asyncio.run(recreate_database(args.admin_url, DATABASE_NAME))
    url = database_url(args.admin_url, DATABASE_NAME)
    migrate(url)
    key_file = workdir / "nylas-api-key"
    key_file.write_text(api_key)
    environment = broker_environment(database_url=url, nylas_url=simulator_url, key_file=key_file)
    port = free_port()
    try:
        with serve_process(
            serve_arguments(port),
            port=port,
            environment=environment,
            log_path=workdir / "broker.log",
        ) as broker:
            warm_up = _start_traffic(broker.base_url, args, args.warm_up, "warm")
            print(f"warm-up: {json.dumps(warm_up.summary())}", flush=True)
            traffic = _start_traffic(broker.base_url, args, args.duration, "load")
            samples = _sample(broker, traffic, args.interval)
            return samples, traffic.summary()
    finally:
        asyncio.run(drop_database(args.admin_url, DATABASE_NAME))


if __name__ == "__main__":
    main()
