"""Run the `import` or `reconcile` command in this process, as `grant-broker` runs them.

    python -m tests.imports.command_process import FILE [OPTIONS]
    python -m tests.imports.command_process reconcile [OPTIONS]

The parser is built with the two commands' own `add_*_command` functions, so this runs exactly
the code of `grant-broker import` and `grant-broker reconcile`. Settings come from the
`GRANT_BROKER_*` environment variables.
"""

import argparse
from collections.abc import Sequence

from app.imports.command import add_import_command
from app.reconcile.command import add_reconcile_command


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="grant-broker")
    commands = parser.add_subparsers(dest="command", required=True)
    add_import_command(commands)
    add_reconcile_command(commands)
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
