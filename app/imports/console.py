"""Settings and logging for the `import` and `reconcile` commands.

These commands print their own output (a summary, a report) on stdout, so their log lines go
to stderr, and by default only warnings and errors are logged: the per-row record of an import
is its result file.
"""

import logging
import sys
from typing import NoReturn

from pydantic import ValidationError

from app.core.config import Settings
from app.core.logging import configure_logging

# Exit status of a command that could not run or was stopped early; 1 means some rows or
# findings need attention, and argparse also exits with 2 on a usage error.
EXIT_NOT_FINISHED = 2

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def load_settings() -> Settings:
    """Read the settings from the environment; exit with the names of invalid variables."""
    try:
        return Settings()
    except ValidationError as exc:
        names = ", ".join(
            "GRANT_BROKER_" + "_".join(str(part) for part in error["loc"]).upper()
            for error in exc.errors()
        )
        fail(f"invalid settings: {names}. Fix them and start again.")


def configure_command_logging(settings: Settings, level: str) -> None:
    """Configure logging as the service does, but on stderr and at `level`."""
    json = settings.log_json if settings.log_json is not None else not settings.is_development
    configure_logging(level=level, json=json)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def fail(message: str) -> NoReturn:
    """Print `grant-broker: MESSAGE` on stderr and exit with `EXIT_NOT_FINISHED`."""
    print(f"grant-broker: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_NOT_FINISHED)
