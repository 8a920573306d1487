"""The call journal: every finished call, durable, searchable, exportable.

``Journal`` is synchronous and thread-safe (one SQLAlchemy engine with a connection pool; SQLite
writers serialise on the database lock, PostgreSQL uses row-level upserts). ``store`` commits before it
returns, so a call is on disk before anyone is told it ended.
"""

from __future__ import annotations

import csv
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import Any, Self, TextIO

from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, Select, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ajam.calls.journal import migrate
from ajam.calls.journal.codec import EncodedCall, decode, encode
from ajam.calls.journal.csv_export import CSV_COLUMNS, csv_row
from ajam.calls.journal.engine import WRITE, create_journal_engine, is_memory
from ajam.calls.journal.filters import CallFilter, Moment
from ajam.calls.journal.location import resolve, safe_text, scrub
from ajam.calls.journal.schema import call_extensions, calls
from ajam.calls.journal.stats import QueueStats, queue_stats
from ajam.calls.model import Call
from ajam.errors import JournalError

log = logging.getLogger(__name__)

_UPDATABLE = [column.name for column in calls.columns if column.name != "id"]
_EXPORT_BATCH = 500
_ID_CHUNK = 500  # ids per DELETE ... IN (...), well below every driver's parameter limit


def open_journal(url_or_path: str | os.PathLike[str] | None = None, *, upgrade: bool = True) -> Journal:
    """Open (creating if needed) the journal at ``url_or_path`` and bring its schema up to date.

    ``None`` → the default SQLite file (see ``location.default_location``); a path or ``sqlite:///path``
    → SQLite; ``':memory:'`` → a throw-away SQLite database; ``postgresql://user:password@host/db`` →
    PostgreSQL (psycopg 3). Errors are ``JournalError`` and never contain the password.
    """
    url = resolve(url_or_path)
    journal = Journal(url)
    if upgrade:
        try:
            journal.upgrade()
        except BaseException:
            journal.close()
            raise
    return journal


class Journal:
    """A call journal on one database. Use ``open_journal`` rather than the constructor."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._name = safe_text(url)
        self._engine: Engine | None = create_journal_engine(url)
        # An in-memory SQLite database is a single shared connection: serialise all use of it.
        self._lock: threading.Lock | None = threading.Lock() if is_memory(url) else None
        log.debug("journal opened on %s", self._name)

    @property
    def name(self) -> str:
        """The database, for humans: the URL with its password hidden."""
        return self._name

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    @property
    def closed(self) -> bool:
        return self._engine is None

    # -- schema -----------------------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Apply pending migrations (Alembic, up to head). Safe to call any number of times."""
        with self._write("migrating the journal") as connection:
            try:
                migrate.upgrade(connection)
            except CommandError as error:
                raise JournalError(f"migrating the journal on {self._name} failed: {error}") from None

    def revision(self) -> str | None:
        """The schema revision of the database (``None`` before the first ``upgrade``)."""
        with self._read("reading the journal's schema revision") as connection:
            return migrate.current_revision(connection)

    # -- writing ----------------------------------------------------------------------------------------

    def store(self, call: Call) -> None:
        """Record ``call`` (insert, or replace the earlier record with the same id); committed on return.

        Meant for finished calls; a live one (``outcome`` None) is accepted and replaced when stored again.
        """
        self.store_encoded([encode(call, stored_at=time.time())])

    def store_many(self, calls_to_store: Iterable[Call]) -> int:
        """Record several calls in one transaction (all or none); returns how many distinct calls."""
        now = time.time()
        return self.store_encoded([encode(call, stored_at=now) for call in calls_to_store])

    def store_encoded(self, records: Sequence[EncodedCall]) -> int:
        """Write calls already snapshotted with ``codec.encode``, in one transaction (used by ``AsyncJournal``)."""
        if not records:
            return 0
        # The same id twice: the last version wins. Sorted, so concurrent batches lock rows in one order.
        by_id = {record.call_id: record for record in records}
        latest = [by_id[call_id] for call_id in sorted(by_id)]
        with self._write("storing calls" if len(latest) > 1 else "storing a call") as connection:
            connection.execute(self._upsert(connection), [record.call_row for record in latest])
            for start in range(0, len(latest), _ID_CHUNK):
                chunk = [record.call_id for record in latest[start : start + _ID_CHUNK]]
                connection.execute(delete(call_extensions).where(call_extensions.c.call_id.in_(chunk)))
            extension_rows = [row for record in latest for row in record.extension_rows]
            if extension_rows:
                connection.execute(insert(call_extensions), extension_rows)
        return len(latest)

    @staticmethod
    def _upsert(connection: Connection) -> Any:
        if connection.dialect.name == "postgresql":
            pg = postgresql.insert(calls)
            return pg.on_conflict_do_update(
                index_elements=[calls.c.id], set_={name: pg.excluded[name] for name in _UPDATABLE}
            )
        lite = sqlite.insert(calls)
        return lite.on_conflict_do_update(
            index_elements=[calls.c.id], set_={name: lite.excluded[name] for name in _UPDATABLE}
        )

    # -- reading ----------------------------------------------------------------------------------------

    def query(
        self,
        *,
        number: str | None = None,
        extension: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        outcome: str | Sequence[str] | None = None,
        missed: bool = False,
        direction: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[Call]:
        """Calls matching every given filter, newest first (see ``filters`` for the matching rules).

        ``limit=None`` returns all of them.
        """
        chosen = CallFilter(number, extension, since, until, outcome, missed, direction)
        statement = self._select(chosen, limit, offset)
        with self._read("querying the journal") as connection:
            return [decode(document, precise) for document, precise in connection.execute(statement)]

    def count(self, **filters: Any) -> int:
        """How many calls ``query(**filters)`` would find without a limit."""
        chosen = CallFilter(**filters)
        statement = select(func.count()).select_from(calls).where(*chosen.conditions())
        with self._read("counting calls") as connection:
            return int(connection.execute(statement).scalar_one())

    def get(self, call_id: str) -> Call | None:
        statement = select(calls.c.document, calls.c.precise_times).where(calls.c.id == call_id)
        with self._read("reading a call") as connection:
            row = connection.execute(statement).first()
        return None if row is None else decode(row[0], row[1])

    def export_csv(self, out: TextIO, *, guard_formulas: bool = True, **filters: Any) -> int:
        """Write the calls ``query(**filters)`` selects as CSV (header first); returns the number of calls.

        Without ``limit`` it exports every match, streamed from one consistent snapshot.
        See ``csv_export`` for the columns.
        """
        limit = filters.pop("limit", None)
        offset = filters.pop("offset", 0)
        statement = select(calls.c.document).where(*CallFilter(**filters).conditions())
        statement = self._order_and_page(statement, limit, offset)
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        written = 0
        with self._read("exporting the journal") as connection:
            rows = connection.execution_options(yield_per=_EXPORT_BATCH).execute(statement)
            for (document,) in rows:
                writer.writerow(csv_row(document, guard_formulas=guard_formulas))
                written += 1
        return written

    def stats(self, *, since: Moment, until: Moment, queue: str | None = None) -> list[QueueStats]:
        """Per-queue answered / abandoned / average wait / calls per hour for calls in ``[since, until)``."""
        with self._read("computing queue statistics") as connection:
            return queue_stats(connection, since=since, until=until, queue=queue)

    def _select(self, chosen: CallFilter, limit: int | None, offset: int) -> Select[Any]:
        statement = select(calls.c.document, calls.c.precise_times).where(*chosen.conditions())
        return self._order_and_page(statement, limit, offset)

    @staticmethod
    def _order_and_page(statement: Select[Any], limit: int | None, offset: int) -> Select[Any]:
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0 (or None for no limit)")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        statement = statement.order_by(calls.c.occurred_at.desc(), calls.c.id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        return statement.offset(offset) if offset else statement

    # -- lifecycle --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections. Idempotent."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
            log.debug("journal closed on %s", self._name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Journal {self._name}{' closed' if self.closed else ''}>"

    # -- plumbing ---------------------------------------------------------------------------------------

    def _exclusive(self) -> AbstractContextManager[object]:
        return self._lock if self._lock is not None else nullcontext()

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        engine = self._live_engine()
        with self._exclusive(), self._errors(action), engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        engine = self._live_engine()
        with (
            self._exclusive(),
            self._errors(action),
            engine.connect().execution_options(**WRITE) as connection,
            connection.begin(),
        ):
            yield connection

    def _live_engine(self) -> Engine:
        if self._engine is None:
            raise JournalError(f"the journal on {self._name} is closed")
        return self._engine

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Database errors → ``JournalError`` naming the action and the database, without the password."""
        try:
            yield
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            detail = scrub(reason[0] if reason else type(error).__name__, self._url)
            raise JournalError(f"{action} failed on {self._name}: {detail}") from None
