"""A five-minute soak of mixed traffic against `grant-broker serve`: zero errors, bounded memory.

The broker runs as its own process on PostgreSQL in front of `grant-broker simulator`; the
traffic is `MixedTraffic` (every public route, every response checked). The broker's resident
set size is sampled during the run. `GRANT_BROKER_SOAK_SECONDS` shortens the run for a trial.
"""

import asyncio
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.process.servers import RunningCommand, free_port, run_command
from tests.reliability.conftest import broker_environment
from tests.reliability.traffic import MixedTraffic

SOAK_SECONDS = float(os.environ.get("GRANT_BROKER_SOAK_SECONDS", "300"))
WARM_UP_SECONDS = 30.0
SAMPLE_SECONDS = 10.0
WORKERS = 8
# The RSS after warm-up may grow by this much by the end of the run. A leak of one object per
# request (about 30,000 requests in five minutes) would exceed it.
MAX_GROWTH_MIB = 20.0


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1)) / 1024


async def sample_rss(pid: int, samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(rss_mib(pid))
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_SECONDS)
        except TimeoutError:
            continue


@pytest.mark.slow
async def test_soak_mixed_traffic(
    fresh_postgres_url: str, nylas_process: RunningCommand, tmp_path: Path
) -> None:
    environment = broker_environment(fresh_postgres_url, nylas_process, tmp_path)
    port = free_port()
    arguments = ["serve", "--host", "127.0.0.1", "--port", str(port)]

    with run_command(arguments, port=port, environment=environment, workdir=tmp_path) as broker:
        async with httpx.AsyncClient(base_url=broker.base_url, timeout=30) as http:
            warm_up = await MixedTraffic(http, workers=WORKERS, prefix="warm").run(WARM_UP_SECONDS)
            samples: list[float] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(broker.process.pid, samples, stop))
            report = await MixedTraffic(http, workers=WORKERS, prefix="soak").run(SOAK_SECONDS)
            stop.set()
            await sampler
            samples.append(rss_mib(broker.process.pid))

    assert warm_up.error_count == 0, warm_up.errors
    assert report.error_count == 0, report.errors
    assert report.cycles > 0
    growth = samples[-1] - samples[0]
    assert growth < MAX_GROWTH_MIB, f"RSS grew {growth:.1f} MiB: {samples}"
