"""Schema migrations: the alembic scripts are the only way the schema is created."""

from pathlib import Path

from alembic.config import Config

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
    from alembic.script import ScriptDirectory

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()
