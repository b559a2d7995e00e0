"""Shared parts of the HTTP benchmarks: processes, wrk, PostgreSQL seeding and the machine.

Every server a benchmark starts listens on 127.0.0.1, and wrk runs as its own process, so the
load generator never shares an interpreter with the server it measures.
"""

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_URL = "postgresql://grant_broker@127.0.0.1:5432/postgres"
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
# The caller identity of the mesh-mode benchmarks, as Istio's sidecar would forward it.
BENCH_PRINCIPAL = "spiffe://cluster.local/ns/bench/sa/load-generator"
BENCH_XFCC = f"By=spiffe://cluster.local/ns/grant-broker/sa/grant-broker;URI={BENCH_PRINCIPAL}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine_description() -> str:
    """Return `nproc`, `lscpu | head -15`, `free -g` and the load average, as printed text."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout  # noqa: S607
    free = subprocess.run(["free", "-g"], capture_output=True, text=True, check=True).stdout  # noqa: S607
    one, five, fifteen = os.getloadavg()
    return "\n".join(
        [
            f"nproc: {os.cpu_count()}",
            *lscpu.splitlines()[:15],
            free.rstrip(),
            f"load average before the run: {one:.2f} {five:.2f} {fifteen:.2f}",
            f"python: {sys.version.split()[0]}",
        ]
    )


def clean_environment(**settings: str) -> dict[str, str]:
    """Return this environment without GRANT_BROKER_ variables, plus `settings`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GRANT_BROKER_")}
    return {**inherited, "PYTHONPATH": str(PROJECT_ROOT), **settings}


@dataclass
class Server:
    """A server process started by `serve_process`, with its URL and log file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def serve_process(
    arguments: list[str],
    *,
    port: int,
    environment: Mapping[str, str],
    log_path: Path,
    ready_path: str = "/livez",
) -> Iterator[Server]:
    """Start `python ARGUMENTS`, wait until `ready_path` responds, and stop it on exit."""
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 (the benchmark's own command line)
            [sys.executable, *arguments],
            cwd=PROJECT_ROOT,
            env=dict(environment),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        try:
            _wait_until_ready(server, ready_path)
            yield server
        finally:
            stop_process(process)


# High enough that the simulator never returns 429, for benchmarks whose subject is not the limit.
UNLIMITED_SIMULATOR_RATE = 1_000_000


@contextmanager
def simulator_process(workdir: Path, api_key: str) -> Iterator[Server]:
    """Start `grant-broker simulator` accepting `api_key`, without a practical rate limit."""
    port = free_port()
    with serve_process(
        [
            *("-m", "app.cli", "simulator", "--port", str(port)),
            *("--rate-limit", str(UNLIMITED_SIMULATOR_RATE)),
        ],
        port=port,
        environment=clean_environment(GRANT_BROKER_NYLAS_API_KEY=api_key),
        log_path=workdir / "simulator.log",
        ready_path="/_simulator/calls",
    ) as simulator:
        yield simulator


def _wait_until_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.log_path.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"the server exited with {server.process.returncode}: {output}")
        try:
            httpx.get(server.base_url + path, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return
    raise RuntimeError(f"{server.base_url} did not respond within {STARTUP_TIMEOUT_SECONDS} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mib(pid: int) -> float:
    """Return the resident set size of process `pid` and its descendants in MiB, from /proc."""
    return sum(_own_rss_kib(each) for each in process_tree(pid)) / 1024


def _own_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"process {pid} reports no VmRSS")
    return int(match.group(1))


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of `pid` and its descendants, in seconds.

    Several uvicorn workers are child processes of the one started, so all of them count.
    """
    return sum(_own_cpu_ticks(each) for each in process_tree(pid)) / os.sysconf("SC_CLK_TCK")


def _own_cpu_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    # utime and stime are the 14th and 15th fields of the whole line, in clock ticks.
    return int(fields[11]) + int(fields[12])


def _stat_fields(pid: int) -> list[str]:
    # The fields after the command name, which may itself hold spaces and parentheses.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """Return `pid` and every process descended from it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while the tree was read
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


@dataclass(frozen=True)
class WrkResult:
    """The summary of one wrk run. Latencies are in milliseconds."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    command: str


def run_wrk(
    url: str,
    *,
    script: str,
    script_arguments: list[str],
    connections: int,
    threads: int,
    duration: int,
) -> WrkResult:
    """Run wrk with a Lua script against `url` and parse its summary."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is missing: install it with `apt-get install -y wrk`")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        file.name,
        url,
        "--",
        *script_arguments,
    ]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    finally:
        os.unlink(file.name)
    shown = " ".join(["wrk", *command[1:5], "-s", "SCRIPT.lua", url, "--", *script_arguments])
    return parse_wrk(output, shown)


def parse_wrk(output: str, command: str) -> WrkResult:
    """Parse wrk 4's `--latency` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output: {output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p50_ms=_percentile(output, "50%"),
        p99_ms=_percentile(output, "99%"),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(value) for value in errors.groups()) if errors else 0,
        command=command,
    )


def _percentile(output: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {label} latency: {output}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def database_url(admin_url: str, name: str, *, driver: str = "postgresql+asyncpg") -> str:
    """Return the URL of database `name` on the server of `admin_url`, for `driver`."""
    server = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    return f"{driver}://{server}/{name}"


async def recreate_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def migrate(url: str) -> None:
    """Create the schema with `grant-broker migrate`, the only way the service creates it."""
    environment = clean_environment(GRANT_BROKER_DATABASE_URL=url)
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=PROJECT_ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )


# One INSERT ... SELECT over generate_series: PostgreSQL builds the rows itself, which takes
# seconds for a million rows, where a million round trips would take minutes.
_SEED_GRANTS = """
INSERT INTO grants (
    user_id, grant_id, provider, email, scopes, grant_status, status_source,
    status_checked_at, status_changed_at, registered_by, created_at, updated_at
)
SELECT
    'u-' || lpad(n::text, 7, '0'),
    'grant-' || md5(n::text),
    (ARRAY['google', 'microsoft', 'imap'])[1 + n % 3],
    'user' || n || '@example.com',
    '["openid", "email", "profile"]'::json,
    CASE WHEN n % 100 = 0 THEN 'invalid' ELSE 'valid' END,
    'registration',
    now(), now(), $2, now(), now()
FROM generate_series(0, $1 - 1) AS n
"""


async def seed_grants(url: str, count: int) -> float:
    """Insert `count` grants for users `u-0000000`... and return the seconds it took."""
    started = time.perf_counter()
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await connection.execute(_SEED_GRANTS, count, BENCH_PRINCIPAL)
        await connection.execute("VACUUM ANALYZE grants")
    finally:
        await connection.close()
    return time.perf_counter() - started


def prepare_database(admin_url: str, name: str, grants: int) -> str:
    """Create database `name` afresh, migrate it, seed `grants` grants; return its URL."""
    asyncio.run(recreate_database(admin_url, name))
    url = database_url(admin_url, name)
    migrate(url)
    seconds = asyncio.run(seed_grants(url, grants))
    print(f"seeded {grants:,} grants into {name} in {seconds:.1f} s", flush=True)
    return url


def broker_environment(
    *, database_url: str, nylas_url: str, key_file: Path, **extra: str
) -> dict[str, str]:
    """Return production settings for `grant-broker serve`: mesh identity, JSON logs.

    The sweep is off, because a background sweep would compete for the CPU being measured.
    """
    callers = {BENCH_PRINCIPAL: ["grants:register", "grants:read", "grants:delete", "events:read"]}
    return clean_environment(
        GRANT_BROKER_DATABASE_URL=database_url,
        GRANT_BROKER_NYLAS_API_URL=nylas_url,
        GRANT_BROKER_NYLAS_API_KEY_FILE=str(key_file),
        GRANT_BROKER_AUTH_MODE="mesh",
        GRANT_BROKER_CALLERS=json.dumps(callers),
        GRANT_BROKER_SWEEP_ENABLED="false",
        **extra,
    )


def serve_arguments(port: int, *, workers: int = 1) -> list[str]:
    return [
        *("-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", str(workers)),
    ]
