"""A broker replica that only runs full sweeps, for the multi-process sweep test.

    python -m tests.status.sweeper_process OUTPUT_FILE SECONDS [START_FILE]

Settings come from the `GRANT_BROKER_*` environment variables, as in the service. Once
imported, the process creates OUTPUT_FILE.ready. With START_FILE, it then waits until that
file exists. It calls `run_sweep_once` again and again for SECONDS seconds and appends one JSON
line per attempt to OUTPUT_FILE: the sweep's figures, or the error that failed it.
"""

import asyncio
import json
import sys
import time
from pathlib import Path

from app.core.config import Settings
from app.core.logging import configure_logging
from app.status.scheduler import run_sweep_once
from app.status.sweep import SweepFailed


async def _sweep_once(settings: Settings) -> dict[str, object]:
    try:
        result = await run_sweep_once(settings, full=True)
    except SweepFailed as exc:
        return {"failed": type(exc.__cause__).__name__, "detail": str(exc.__cause__)}
    return {
        "started_at": result.started_at.timestamp(),
        "duration": result.duration,
        "skipped": result.skipped_lease_held,
        "nylas_calls": result.nylas_calls,
    }


def _wait_for_start(output: Path, start_file: Path | None) -> None:
    output.with_suffix(".ready").touch()
    while start_file is not None and not start_file.exists():
        time.sleep(0.02)


async def _sweep_repeatedly(settings: Settings, output: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = await _sweep_once(settings)
        with output.open("a") as file:
            file.write(json.dumps(record) + "\n")
        await asyncio.sleep(0.02)


def main() -> None:
    output, seconds = Path(sys.argv[1]), float(sys.argv[2])
    start_file = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    settings = Settings()
    configure_logging(level=settings.log_level, json=True)

    _wait_for_start(output, start_file)
    asyncio.run(_sweep_repeatedly(settings, output, seconds))


if __name__ == "__main__":
    main()
