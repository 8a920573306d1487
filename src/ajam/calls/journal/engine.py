"""SQLAlchemy engines tuned for a journal: durable commits, safe across threads and processes.

SQLite: WAL mode with ``synchronous=FULL`` (a committed call survives a crash of the process or the
machine), a 30 s busy timeout, and explicit ``BEGIN`` statements instead of the sqlite3 module's implicit
ones, so that writers start with ``BEGIN IMMEDIATE`` and never fail on a read→write lock upgrade when
several processes share the file. PostgreSQL: psycopg 3 with a small pool that tests connections before use.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from ajam.calls.journal.location import MEMORY, safe_text
from ajam.errors import JournalError

WRITE = {"ajam_write": True}
"""Execution options of a connection that is going to write (``BEGIN IMMEDIATE`` on SQLite)."""


def create_journal_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, json_serializer=_json_text)
    raise JournalError(f"unsupported journal database {safe_text(url)}")


def _json_text(value: Any) -> str:
    """JSON as people read it in the database: names in their own alphabet, not ``\\u`` escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", MEMORY)


def _sqlite_engine(url: URL) -> Engine:
    if is_memory(url):
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}, json_serializer=_json_text
        )
    else:
        engine = create_engine(url, connect_args={"timeout": 30.0}, json_serializer=_json_text)
    memory = is_memory(url)

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see on_begin)
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("ajam_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine
