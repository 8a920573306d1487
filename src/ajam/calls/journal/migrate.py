"""Schema migrations with Alembic, run programmatically (no ``alembic.ini`` needed).

The scripts live in ``migrations/`` inside the package. ``upgrade`` runs in the caller's transaction,
serialised between processes (SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
lock), so several programs opening a fresh journal at once migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK = 0x616A616D  # "ajam"


def alembic_config(connection: Connection | None = None, *, scripts: Path = MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    connection: Connection,
    revision: str = "head",
    *,
    scripts: Path = MIGRATIONS,
    lock_key: int = _ADVISORY_LOCK,
) -> None:
    """Bring the schema to ``revision``; a no-op when it is there already. Needs an open transaction.

    ``scripts`` and ``lock_key`` let another set of tables in the same database (the gateway's) migrate
    the same way with its own scripts and its own lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    command.upgrade(alembic_config(connection, scripts=scripts), revision)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
