"""What a CRM wants to know about a call, independent of how it was observed.

A call is everything that shares one ``Linkedid`` in Asterisk. Times are POSIX seconds (UTC) taken from
the events themselves where Asterisk sends them, so replaying a capture gives the same durations as
watching it live. ``to_json`` is the contract of ``ajam calls --json`` and of the journal's export:
keys are stable; new keys may be added, none renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Outcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"  # the caller gave up while it was ringing
    FAILED = "failed"
    CONGESTION = "congestion"
    ABANDONED = "abandoned"  # the caller left a queue before an agent answered
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # per extension: another member of a ring group answered
    UNKNOWN_END = "unknown_end"  # the call vanished while ajam was not watching (reconnect, restart)


@dataclass(slots=True)
class Party:
    number: str = ""
    name: str = ""

    def to_json(self) -> dict[str, str]:
        return {"number": self.number, "name": self.name}


@dataclass(slots=True)
class Transfer:
    """One transfer: ``transferer`` handed ``transferee`` over to ``target``."""

    kind: str  # "blind" or "attended"
    transferer: str
    transferee: str
    target: str
    at: float | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "transferer": self.transferer,
            "transferee": self.transferee,
            "target": self.target,
            "at": iso(self.at),
        }


@dataclass(slots=True)
class Call:
    id: str
    direction: Direction = Direction.INBOUND
    caller: Party = field(default_factory=Party)
    callee: Party = field(default_factory=Party)
    rang: list[str] = field(default_factory=list)  # extensions that rang, in order
    answered_by: str | None = None
    outcome: Outcome | None = None  # None while the call is live
    cause: int | None = None
    cause_text: str = ""
    started_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    recording: str | None = None
    transfers: list[Transfer] = field(default_factory=list)
    queue: str | None = None
    extension_outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.outcome is None

    @property
    def wait_seconds(self) -> float | None:
        """From the start until answered (or until the end when nobody answered)."""
        end = self.answered_at if self.answered_at is not None else self.ended_at
        if self.started_at is None or end is None:
            return None
        return round(max(0.0, end - self.started_at), 3)

    @property
    def talk_seconds(self) -> float | None:
        if self.answered_at is None:
            return 0.0 if self.ended_at is not None else None
        if self.ended_at is None:
            return None
        return round(max(0.0, self.ended_at - self.answered_at), 3)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "direction": str(self.direction),
            "caller": self.caller.to_json(),
            "callee": self.callee.to_json(),
            "answered_by": self.answered_by,
            "outcome": str(self.outcome) if self.outcome is not None else None,
            "cause": self.cause,
            "started_at": iso(self.started_at),
            "answered_at": iso(self.answered_at),
            "ended_at": iso(self.ended_at),
            "wait_seconds": self.wait_seconds,
            "talk_seconds": self.talk_seconds,
            "recording": self.recording,
            "transfers": [transfer.to_json() for transfer in self.transfers],
            "queue": self.queue,
            "rang": list(self.rang),
            "extension_outcomes": {ext: str(outcome) for ext, outcome in self.extension_outcomes.items()},
            "cause_text": self.cause_text,
            "ringing_at": iso(self.ringing_at),
        }


def iso(moment: float | None) -> str | None:
    """POSIX seconds → ISO 8601 in UTC with milliseconds (``None`` stays ``None``)."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text).timestamp()
