"""The journal's tables, as SQLAlchemy Core metadata.

The migrations in ``migrations/versions`` create exactly this schema (a test compares them); change both
together, through a new Alembic revision.

``calls`` has one row per call: columns for everything the queries filter or sort on, the complete
``Call.to_json()`` document, and ``precise_times`` — the POSIX timestamps as floats, because the JSON
document only keeps milliseconds and a round trip must reproduce the call exactly. ``call_extensions``
lists every extension involved in a call (placed it, was called, rang, answered) so that "calls of
extension 101" is one indexed lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC.

    PostgreSQL keeps it as ``timestamptz``; SQLite has no time zones, so UTC is stored without an offset
    and reattached on reading. Naive datetimes are refused: their meaning would depend on the machine.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("journal timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

calls = Table(
    "calls",
    metadata,
    Column("id", Text, primary_key=True),
    Column("direction", Text, nullable=False),
    Column("caller_number", Text, nullable=False),
    Column("caller_name", Text, nullable=False),
    Column("callee_number", Text, nullable=False),
    Column("callee_name", Text, nullable=False),
    Column("answered_by", Text),
    Column("outcome", Text),
    Column("cause", Integer),
    Column("started_at", UTCDateTime),
    Column("answered_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    # When the call happened, for periods and ordering: started_at, else the first known timestamp.
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("wait_seconds", Float),
    Column("talk_seconds", Float),
    Column("recording", Text),
    Column("queue", Text),
    Column("document", JSON, nullable=False),
    Column("precise_times", JSON, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)
Index("ix_calls_occurred_at_id", calls.c.occurred_at, calls.c.id)
Index("ix_calls_caller_number", calls.c.caller_number)
Index("ix_calls_callee_number", calls.c.callee_number)
# (direction, occurred_at, id): "missed calls, newest first" reads the index in order, no sorting.
Index("ix_calls_direction_occurred_at", calls.c.direction, calls.c.occurred_at, calls.c.id)
Index("ix_calls_queue_occurred_at", calls.c.queue, calls.c.occurred_at)

call_extensions = Table(
    "call_extensions",
    metadata,
    Column("call_id", Text, ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("extension", Text, primary_key=True),
    Column("role", Text, nullable=False),  # placed | called | rang | answered
    Column("outcome", Text),  # the extension's own outcome (e.g. answered_elsewhere), if known
)
Index("ix_call_extensions_extension", call_extensions.c.extension, call_extensions.c.call_id)
