"""Which calls a query selects, as SQL conditions.

Matching rules (the documented contract of ``Journal.query``):

* ``number`` matches the caller's or the callee's number. Exact by default; ``*`` (any run of
  characters) and ``?`` (one character) make it a pattern: ``*1234`` ends with 1234, ``*555*`` contains 555.
* ``extension`` matches every call in which the extension took part: placed it, was called, rang or answered.
* ``since``/``until`` bound when the call happened (its start; the first known timestamp otherwise):
  ``since <= started < until``. POSIX seconds or aware datetimes.
* ``outcome`` is one outcome or several (any of them).
* ``missed`` keeps inbound calls nobody answered: outcome busy, no_answer, cancelled, abandoned,
  failed or congestion, or unknown_end without an answer time.
* ``direction`` is inbound, outbound or internal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, or_, select

from ajam.calls.journal.schema import call_extensions, calls
from ajam.calls.model import Direction, Outcome

MISSED_OUTCOMES = (
    Outcome.BUSY,
    Outcome.NO_ANSWER,
    Outcome.CANCELLED,
    Outcome.ABANDONED,
    Outcome.FAILED,
    Outcome.CONGESTION,
)

Moment = float | datetime


@dataclass(frozen=True)
class CallFilter:
    number: str | None = None
    extension: str | None = None
    since: Moment | None = None
    until: Moment | None = None
    outcome: str | Sequence[str] | None = None
    missed: bool = False
    direction: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions (all must hold); invalid outcome/direction names raise ``ValueError``."""
        found: list[ColumnElement[bool]] = []
        if self.number is not None:
            found.append(
                or_(
                    _number_matches(calls.c.caller_number, self.number),
                    _number_matches(calls.c.callee_number, self.number),
                )
            )
        if self.extension is not None:
            # IN (not EXISTS): the planner starts from the extension's index entries instead of scanning calls.
            involved = select(call_extensions.c.call_id).where(call_extensions.c.extension == self.extension)
            found.append(calls.c.id.in_(involved))
        if self.since is not None:
            found.append(calls.c.occurred_at >= as_datetime(self.since))
        if self.until is not None:
            found.append(calls.c.occurred_at < as_datetime(self.until))
        if self.outcome is not None:
            wanted = [self.outcome] if isinstance(self.outcome, str) else list(self.outcome)
            found.append(calls.c.outcome.in_([str(_outcome(name)) for name in wanted]))
        if self.missed:
            found.append(missed_condition())
        if self.direction is not None:
            found.append(calls.c.direction == str(_direction(self.direction)))
        return found


def missed_condition() -> ColumnElement[bool]:
    return and_(
        calls.c.direction == str(Direction.INBOUND),
        or_(
            calls.c.outcome.in_([str(outcome) for outcome in MISSED_OUTCOMES]),
            and_(calls.c.outcome == str(Outcome.UNKNOWN_END), calls.c.answered_at.is_(None)),
        ),
    )


def as_datetime(value: Moment) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("journal periods need timezone-aware datetimes (or POSIX seconds)")
        return value
    return datetime.fromtimestamp(value, UTC)


def _number_matches(column: ColumnElement[str], wanted: str) -> ColumnElement[bool]:
    if "*" not in wanted and "?" not in wanted:
        return column == wanted
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped.replace("*", "%").replace("?", "_"), escape="\\")


def _outcome(name: str) -> Outcome:
    try:
        return Outcome(name)
    except ValueError:
        raise ValueError(f"unknown outcome {name!r}; one of {', '.join(o.value for o in Outcome)}") from None


def _direction(name: str) -> Direction:
    try:
        return Direction(name)
    except ValueError:
        raise ValueError(
            f"unknown direction {name!r}; one of {', '.join(d.value for d in Direction)}"
        ) from None
