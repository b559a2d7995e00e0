"""`grant-broker import FILE`: register the users of a JSON Lines or CSV file in bulk."""

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

if TYPE_CHECKING:
    from app.imports.importer import ImportOptions

from app.imports.console import (
    LOG_LEVELS,
    configure_command_logging,
    fail,
    load_settings,
)
from app.imports.rows import FileFormat

# The bearer token for `--url` in token mode, when no --token-file is given. A file or an
# environment variable, never an argument, because arguments are visible to every local user.
TOKEN_VARIABLE = "GRANT_BROKER_IMPORT_TOKEN"  # noqa: S105 - the variable's name, not a token

DESCRIPTION = """\
Register users' provider credentials from a JSON Lines or CSV file, through the same code as
POST /v1/grants: in this process against the configured database and Nylas, or with --url
against a running broker. Rows whose user already holds a valid grant of the row's provider
are skipped, so the command can be run again after a failure. Exit status: 0 when every row
succeeded (or, with --dry-run, was valid), 1 when some rows failed, 2 when the import could
not run or stopped early."""


def add_import_command(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `import` command to the `grant-broker` parser."""
    parser = subparsers.add_parser(
        "import",
        help="Register users' credentials in bulk from a JSON Lines or CSV file.",
        description=DESCRIPTION,
    )
    parser.add_argument("file", type=Path, help="The JSON Lines or CSV file to import.")
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=[file_format.value for file_format in FileFormat],
        help="File format (default: csv for a .csv file, else jsonl).",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="Validate every row and write the results; call neither Nylas nor the database.",
    )
    _add_target_arguments(parser)
    _add_pace_arguments(parser)
    _add_output_arguments(parser)
    parser.set_defaults(handler=run_import_command)


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="Base URL of a running broker to post the rows to (default: register in process).",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help=(
            "With --url in token mode: file holding the bearer token "
            f"(default: the environment variable {TOKEN_VARIABLE})."
        ),
    )


def _add_pace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=40.0,
        help=(
            "Registrations started per second (default 40). Nylas allows 50 per second per "
            "application, shared with the running service."
        ),
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        help="Registrations in flight at once (default 8).",
    )


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        type=Path,
        help=(
            "Per-row result file, JSON Lines (default: ./FILE_NAME.results.jsonl, or "
            "./FILE_NAME.dry-run.jsonl with --dry-run)."
        ),
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help=(
            "Append to the result file of an earlier run and leave the rows it lists as "
            "registered or skipped alone, without looking them up."
        ),
    )
    parser.add_argument(
        "--progress-interval",
        type=_positive_float,
        default=10.0,
        help="Seconds between progress lines when stderr is not a terminal (default 10).",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="WARNING", help="Log level (default WARNING)."
    )


def run_import_command(args: argparse.Namespace) -> None:
    """Run the import that `args` describe and exit with its status."""
    # Imported here, so that building the `grant-broker` parser stays fast.
    from app.imports.importer import run_import
    from app.secrets import SecretLoadError

    options = _options(args)
    settings = load_settings()
    configure_command_logging(settings, args.log_level)

    try:
        report = asyncio.run(run_import(settings, options, handle_signals=True))
    except SecretLoadError as exc:
        fail(str(exc))
    except OSError as exc:
        # The file name and the system's reason, such as "No space left on device".
        fail(f"a file operation failed: {exc}")

    print(report.summary(), flush=True)
    sys.exit(report.exit_status)


def _options(args: argparse.Namespace) -> "ImportOptions":
    file: Path = args.file
    if not file.exists():
        fail(f"{file} does not exist")
    results: Path = args.results or default_results_path(file, dry_run=args.dry_run)
    if results.resolve() == file.resolve():
        fail("--results names the input file; choose another path")
    if args.token_file is not None and args.url is None:
        fail("--token-file needs --url")

    from app.imports.importer import ImportOptions

    return ImportOptions(
        file=file,
        file_format=FileFormat(args.file_format) if args.file_format else FileFormat.for_path(file),
        results=results,
        dry_run=args.dry_run,
        url=args.url,
        token=_token(args) if args.url is not None else None,
        rate=args.rate,
        concurrency=args.concurrency,
        resume=args.resume,
        progress_interval=args.progress_interval,
    )


def default_results_path(file: Path, *, dry_run: bool) -> Path:
    """Return `./FILE_NAME.results.jsonl`, or `./FILE_NAME.dry-run.jsonl` for a dry run.

    A dry run writes its own file, so that it never replaces the results of a real run,
    which `--resume` reads.
    """
    suffix = "dry-run" if dry_run else "results"
    return Path(f"{file.name}.{suffix}.jsonl")


def _token(args: argparse.Namespace) -> SecretStr | None:
    if args.token_file is None:
        value = os.environ.get(TOKEN_VARIABLE, "").strip()
        return SecretStr(value) if value else None
    try:
        value = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        fail(f"cannot read --token-file {args.token_file}: {exc.strerror}")
    if not value:
        fail(f"--token-file {args.token_file} is empty")
    return SecretStr(value)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value
