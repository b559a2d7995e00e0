"""`grant-broker reconcile`: compare the database with Nylas, report, and optionally fix."""

import argparse
import asyncio
import json
import sys

from app.imports.console import LOG_LEVELS, configure_command_logging, fail, load_settings

DESCRIPTION = """\
Compare every grant record with Nylas's full grant listing and report grants at Nylas that no
user holds (orphans), records whose grant no longer exists (dangling), and status mismatches.
Nothing changes without --apply. Exit status: 0 when the database and Nylas agree (after the
fixes), 1 when differences remain, 2 when the comparison could not run."""


def add_reconcile_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    """Add the `reconcile` command to the `grant-broker` parser."""
    parser = subparsers.add_parser(
        "reconcile",
        help="Compare the grant records with Nylas; report and optionally fix differences.",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help=(
            "Set mismatched statuses to Nylas's and remove dangling records, each with its "
            "event, as a status sweep would."
        ),
    )
    parser.add_argument(
        "--delete-orphans",
        action="store_true",
        help="With --apply: also delete orphan grants at Nylas, which cannot be undone.",
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=["table", "json"],
        default="table",
        help="Report format on stdout (default table).",
    )
    _add_pace_arguments(parser)
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="WARNING", help="Log level (default WARNING)."
    )
    parser.set_defaults(handler=run_reconcile_command)


def _add_pace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help=(
            "Nylas requests per second (default 20). Nylas allows 50 per second per "
            "application, shared with the running service."
        ),
    )
    parser.add_argument(
        "--min-orphan-age",
        type=float,
        default=300.0,
        help=(
            "Seconds since Nylas minted or re-authenticated an orphan before --delete-orphans "
            "may delete it, so a registration in progress keeps its grant (default 300)."
        ),
    )


def run_reconcile_command(args: argparse.Namespace) -> None:
    """Run the reconciliation that `args` describe, print the report and exit with its status."""
    # Imported here, so that building the `grant-broker` parser stays fast.
    from app.nylas.errors import NylasError
    from app.reconcile.findings import render_table
    from app.reconcile.reconciliation import ReconcileOptions, run_reconcile
    from app.secrets import SecretLoadError

    if args.delete_orphans and not args.apply:
        fail("--delete-orphans needs --apply")
    if not args.rate > 0 or args.min_orphan_age < 0:
        fail("--rate must be greater than 0 and --min-orphan-age at least 0")
    options = ReconcileOptions(
        apply=args.apply,
        delete_orphans=args.delete_orphans,
        requests_per_second=args.rate,
        min_orphan_age=args.min_orphan_age,
    )
    settings = load_settings()
    configure_command_logging(settings, args.log_level)

    try:
        report = asyncio.run(run_reconcile(settings, options))
    except SecretLoadError as exc:
        fail(str(exc))
    except NylasError as exc:
        fail(f"reading Nylas failed: {exc}")

    if args.output_format == "json":
        print(json.dumps(report.to_json(), indent=2), flush=True)
    else:
        print(render_table(report), flush=True)
    sys.exit(report.exit_status)
