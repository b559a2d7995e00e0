"""The `grant-broker` command line: serve, dev, migrate, sweep, simulator, import, reconcile."""

import argparse
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn
from pydantic import SecretStr, ValidationError

from app.auth import AuthMode
from app.core.config import Environment, Settings
from app.imports.command import add_import_command
from app.reconcile.command import add_reconcile_command

DEV_DATABASE_URL = "sqlite+aiosqlite:///./grant-broker-dev.db"
# Requests to this host never leave the process: the dev app routes them to the simulator.
DEV_NYLAS_URL = "http://nylas-simulator.invalid"
DEV_SIMULATOR_MOUNT = "/nylas-simulator"


def _load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        names = ", ".join(_setting_name(error["loc"]) for error in exc.errors())
        sys.exit(f"grant-broker: invalid settings: {names}. Fix them and start again.")


def _setting_name(location: tuple[int | str, ...]) -> str:
    return "GRANT_BROKER_" + "_".join(str(part) for part in location).upper()


def _serve(args: argparse.Namespace) -> None:
    import asyncio

    from app.auth import AuthConfigError
    from app.main import preflight
    from app.secrets import SecretLoadError

    settings = _load_settings()
    try:
        asyncio.run(preflight(settings))
    except (SecretLoadError, AuthConfigError) as exc:
        sys.exit(f"grant-broker: {exc}")
    # uvicorn drains on SIGTERM and then raises the signal again for the handler installed
    # before it. Without such a handler, a clean drain would end the process with status 143.
    signal.signal(signal.SIGTERM, _exit_after_drain)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        root_path=args.root_path,
        log_config=None,
        timeout_graceful_shutdown=args.graceful_shutdown,
    )


def _exit_after_drain(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def _dev(args: argparse.Namespace) -> None:
    import asyncio

    from app.core.migrations import upgrade_database
    from app.main import create_app
    from app.simulator import NylasSimulator

    # A fresh random key per run unless one is set, so the dev mode has no default secret that
    # could start elsewhere. A key that is set lets other commands use the dev simulator.
    api_key = os.environ.get("GRANT_BROKER_NYLAS_API_KEY") or secrets.token_urlsafe(24)
    settings = _load_settings(
        env=Environment.DEVELOPMENT,
        auth_mode=AuthMode.NONE,
        database_url=args.database_url,
        nylas_api_url=DEV_NYLAS_URL,
        nylas_api_key=SecretStr(api_key),
    )
    asyncio.run(asyncio.to_thread(upgrade_database, settings.database_url))
    simulator = NylasSimulator(api_keys=[api_key])
    app = create_app(settings, nylas_transport=simulator.transport())
    app.mount(DEV_SIMULATOR_MOUNT, simulator.app)
    _print_dev_banner(args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


def _print_dev_banner(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    # The simulator maps a refresh token "sim:<email>:<anything>" to the mailbox <email>.
    example = (
        '{"user_id": "u-1", "provider": "google", '
        '"settings": {"refresh_token": "sim:alice@example.com:1"}}'
    )
    print(
        f"""
grant-broker dev: SQLite database and the built-in Nylas simulator, no credentials needed.
  API docs:   {base}/docs
  Simulator:  {base}{DEV_SIMULATOR_MOUNT}/_simulator (control API; see README)
  Try:
    curl -s -X POST {base}/v1/grants -H 'Content-Type: application/json' \\
      -d '{example}'
    curl -s {base}/v1/users/u-1/grant
""",
        flush=True,
    )


def _migrate(args: argparse.Namespace) -> None:
    from app.core.migrations import (
        database_revision,
        is_known_revision,
        known_revisions,
        upgrade_database,
    )

    if not is_known_revision(args.revision):
        choices = ", ".join(["head", *known_revisions()])
        sys.exit(f"grant-broker migrate: unknown revision {args.revision!r}: use one of {choices}")
    settings = _load_settings()
    try:
        upgrade_database(settings.database_url, args.revision)
        current = database_revision(settings.database_url)
    except Exception as exc:
        sys.exit(f"grant-broker migrate: {_migration_failure(exc)}")
    # alembic's upgrade leaves a database already past the target as it is.
    if args.revision != "head" and not current.startswith(args.revision):
        print(
            f"grant-broker migrate: the database is at revision {current}, past {args.revision}; "
            "migrate only upgrades, so nothing changed",
            flush=True,
        )
        return
    print(f"grant-broker migrate: the database is at revision {current}", flush=True)


def _migration_failure(exc: Exception) -> str:
    """Describe a failed migration by kind. The message is left out: it may quote the URL."""
    from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError

    if isinstance(exc, ArgumentError | NoSuchModuleError | InvalidRequestError):
        return (
            f"GRANT_BROKER_DATABASE_URL is not a supported database URL ({type(exc).__name__}): "
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DATABASE"
        )
    return (
        f"failed to migrate the database ({type(exc).__name__}): check that "
        "GRANT_BROKER_DATABASE_URL names a running database that the service may change"
    )


def _sweep(args: argparse.Namespace) -> None:
    import asyncio
    import json

    from app.core.logging import configure_logging
    from app.secrets import SecretLoadError
    from app.status.scheduler import run_sweep_once
    from app.status.sweep import SweepFailed

    settings = _load_settings()
    configure_logging(level=settings.log_level, json=not settings.is_development)
    try:
        result = asyncio.run(run_sweep_once(settings, full=args.full))
    except SecretLoadError as exc:
        sys.exit(f"grant-broker sweep: {exc}")
    except SweepFailed as exc:
        sys.exit(f"grant-broker sweep: the sweep stopped early: {exc}")
    print(json.dumps(result.log_fields(), indent=2, default=str), flush=True)
    if result.skipped_lease_held:
        print("grant-broker sweep: another replica holds the sweep lease; nothing done")


def _simulator(args: argparse.Namespace) -> None:
    from app.simulator import NylasSimulator

    api_key = os.environ.get("GRANT_BROKER_NYLAS_API_KEY")
    if not api_key:
        sys.exit(
            "grant-broker simulator: GRANT_BROKER_NYLAS_API_KEY is missing: set it to the API "
            "key the simulator should accept (the broker uses the same variable)."
        )
    simulator = NylasSimulator(api_keys=[api_key], rate_limit_per_second=args.rate_limit)
    uvicorn.run(simulator.app, host=args.host, port=args.port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grant-broker", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Run the service (production).")
    serve.add_argument("--host", default="0.0.0.0", help="Interface to bind (default 0.0.0.0).")  # noqa: S104
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000).")
    serve.add_argument("--workers", type=int, default=1, help="Worker processes (default 1).")
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (default on).",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1,127.0.0.6",
        help=(
            "Comma-separated proxy addresses whose forwarded headers are trusted (default "
            "127.0.0.1 and 127.0.0.6, the address Istio's sidecar connects from)."
        ),
    )
    serve.add_argument("--root-path", default="", help="Path prefix the proxy strips, if any.")
    serve.add_argument(
        "--graceful-shutdown",
        type=int,
        default=25,
        help="Seconds to let in-flight requests finish after SIGTERM (default 25).",
    )
    serve.set_defaults(handler=_serve)

    dev = commands.add_parser(
        "dev", help="Run locally with SQLite and the built-in Nylas simulator."
    )
    dev.add_argument("--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1).")
    dev.add_argument("--port", type=int, default=8000, help="TCP port (default 8000).")
    dev.add_argument(
        "--database-url",
        default=DEV_DATABASE_URL,
        help="Database URL (default: ./grant-broker-dev.db).",
    )
    dev.set_defaults(handler=_dev)

    migrate = commands.add_parser("migrate", help="Apply the database migrations.")
    migrate.add_argument("--revision", default="head", help="Target revision (default head).")
    migrate.set_defaults(handler=_migrate)

    sweep = commands.add_parser(
        "sweep", help="Run one status sweep now (the invalid grants, or all with --full)."
    )
    sweep.add_argument(
        "--full",
        action="store_true",
        help="List every grant at Nylas, not only the invalid ones.",
    )
    sweep.set_defaults(handler=_sweep)

    simulator = commands.add_parser("simulator", help="Run the Nylas simulator alone.")
    simulator.add_argument(
        "--host", default="127.0.0.1", help="Interface to bind (default 127.0.0.1)."
    )
    simulator.add_argument("--port", type=int, default=8900, help="TCP port (default 8900).")
    simulator.add_argument(
        "--rate-limit", type=int, default=50, help="Requests per second per API (default 50)."
    )
    simulator.set_defaults(handler=_simulator)

    add_import_command(commands)
    add_reconcile_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
