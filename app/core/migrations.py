"""Schema migrations: the alembic scripts are the only way the schema is created."""

import io
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    # ConfigParser treats % as interpolation; a password in the URL may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision`.

    Runs its own event loop (alembic's env.py calls asyncio.run), so async code calls it
    through `asyncio.to_thread`.
    """
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """Return the newest migration's revision id, which a migrated database records."""
    return _scripts().get_current_head()


def known_revisions() -> list[str]:
    """Return every migration's revision id, oldest first."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def is_known_revision(revision: str) -> bool:
    """Return whether `revision` names a migration or is `head`."""
    try:
        return revision == "head" or _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def database_revision(database_url: str) -> str:
    """Return the revision the database records, as alembic prints it, e.g. `0002 (head)`."""
    config = alembic_config(database_url)
    config.stdout = io.StringIO()
    command.current(config)
    return config.stdout.getvalue().strip() or "none (no migration applied)"


def _scripts() -> ScriptDirectory:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    return ScriptDirectory.from_config(config)
