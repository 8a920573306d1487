"""Per-queue figures for a period: the call-center view's history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, case, func, or_, select

from ajam.calls.journal.filters import Moment, as_datetime
from ajam.calls.journal.schema import calls
from ajam.calls.model import Outcome


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What happened in one queue between ``since`` and ``until``.

    ``answered``: an agent answered; ``abandoned``: the caller hung up while waiting; ``unanswered``: the
    rest (queue timeout, full, …). ``average_wait`` is the mean time to answer of the answered calls
    (``None`` without any); ``max_wait`` the longest wait of any call; ``calls_per_hour`` = calls / hours
    of the period.
    """

    queue: str
    calls: int
    answered: int
    abandoned: int
    average_wait: float | None
    max_wait: float | None
    calls_per_hour: float

    @property
    def unanswered(self) -> int:
        return self.calls - self.answered - self.abandoned

    def to_json(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "calls": self.calls,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "unanswered": self.unanswered,
            "average_wait": self.average_wait,
            "max_wait": self.max_wait,
            "calls_per_hour": self.calls_per_hour,
        }


def queue_stats(
    connection: Connection, *, since: Moment, until: Moment, queue: str | None
) -> list[QueueStats]:
    """One entry per queue with calls in the period, by name; a requested ``queue`` always gets its entry."""
    start, end = as_datetime(since), as_datetime(until)
    if end <= start:
        raise ValueError("stats: until must be after since")
    hours = (end - start).total_seconds() / 3600.0
    answered = or_(calls.c.answered_at.is_not(None), calls.c.outcome == str(Outcome.ANSWERED))
    statement = (
        select(
            calls.c.queue,
            func.count(),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((calls.c.outcome == str(Outcome.ABANDONED), 1), else_=0)),
            func.avg(case((answered, calls.c.wait_seconds), else_=None)),
            func.max(calls.c.wait_seconds),
        )
        .where(calls.c.queue.is_not(None), calls.c.occurred_at >= start, calls.c.occurred_at < end)
        .group_by(calls.c.queue)
        .order_by(calls.c.queue)
    )
    if queue is not None:
        statement = statement.where(calls.c.queue == queue)
    found = [
        QueueStats(
            queue=name,
            calls=int(total),
            answered=int(answered_count or 0),
            abandoned=int(abandoned_count or 0),
            average_wait=None if average is None else round(float(average), 3),
            max_wait=None if longest is None else float(longest),
            calls_per_hour=round(int(total) / hours, 3),
        )
        for name, total, answered_count, abandoned_count, average, longest in connection.execute(statement)
    ]
    if queue is not None and not found:
        found.append(QueueStats(queue, 0, 0, 0, None, None, 0.0))
    return found
