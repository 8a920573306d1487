"""A ``Call`` to journal rows and back, losslessly.

``encode`` takes a snapshot: the rows hold copies, so the caller's live ``Call`` may change afterwards
(the async journal encodes on the event loop and writes in a worker thread).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ajam.calls.model import Call, Direction, Outcome, Party, Transfer, parse_iso

_PRECISE_FIELDS = ("started_at", "ringing_at", "answered_at", "ended_at")
_PLACING_DIRECTIONS = (Direction.OUTBOUND, Direction.INTERNAL)


@dataclass(frozen=True, slots=True)
class EncodedCall:
    """The rows of one call, ready to be written."""

    call_id: str
    call_row: dict[str, Any]
    extension_rows: tuple[dict[str, Any], ...]


def moment(seconds: float | None) -> datetime | None:
    """POSIX seconds → an aware UTC datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def encode(call: Call, *, stored_at: float) -> EncodedCall:
    if not isinstance(call.id, str) or not call.id:
        raise ValueError(f"a call needs a non-empty string id to be journaled, not {call.id!r}")
    document = call.to_json()
    occurred = next(
        (t for t in (call.started_at, call.ringing_at, call.answered_at, call.ended_at) if t is not None),
        stored_at,
    )
    precise: dict[str, Any] = {name: getattr(call, name) for name in _PRECISE_FIELDS}
    precise["transfers"] = [transfer.at for transfer in call.transfers]
    row = {
        "id": call.id,
        "direction": str(call.direction),
        "caller_number": call.caller.number,
        "caller_name": call.caller.name,
        "callee_number": call.callee.number,
        "callee_name": call.callee.name,
        "answered_by": call.answered_by,
        "outcome": None if call.outcome is None else str(call.outcome),
        "cause": call.cause,
        "started_at": moment(call.started_at),
        "answered_at": moment(call.answered_at),
        "ended_at": moment(call.ended_at),
        "occurred_at": moment(occurred),
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "recording": call.recording,
        "queue": call.queue,
        "document": document,
        "precise_times": precise,
        "stored_at": moment(stored_at),
    }
    return EncodedCall(call.id, row, tuple(_extension_rows(call)))


def _extension_rows(call: Call) -> list[dict[str, Any]]:
    """Every extension involved; when one had several roles, the strongest wins (answered > rang > ...)."""
    roles: dict[str, tuple[str, str | None]] = {}
    call_outcome = None if call.outcome is None else str(call.outcome)
    if call.direction in _PLACING_DIRECTIONS and call.caller.number:
        roles[call.caller.number] = ("placed", call_outcome)
    if call.direction is Direction.INTERNAL and call.callee.number:
        roles[call.callee.number] = ("called", call_outcome)
    for extension in [*call.rang, *call.extension_outcomes]:
        own = call.extension_outcomes.get(extension)
        roles[extension] = ("rang", None if own is None else str(own))
    if call.answered_by:
        own = call.extension_outcomes.get(call.answered_by, Outcome.ANSWERED)
        roles[call.answered_by] = ("answered", str(own))
    return [
        {"call_id": call.id, "extension": extension, "role": role, "outcome": outcome}
        for extension, (role, outcome) in roles.items()
    ]


def decode(document: Mapping[str, Any], precise: Mapping[str, Any] | None) -> Call:
    """The call stored as ``document`` (``Call.to_json()``) with its exact timestamps ``precise``."""
    exact = precise or {}

    def seconds(name: str) -> float | None:
        if name in exact:
            value = exact[name]
            return None if value is None else float(value)
        text = document.get(name)
        return parse_iso(text) if isinstance(text, str) else None

    transfer_times = list(exact.get("transfers") or [])
    transfers = []
    for index, item in enumerate(document.get("transfers") or []):
        at = transfer_times[index] if index < len(transfer_times) else parse_iso(item.get("at"))
        transfers.append(
            Transfer(
                kind=item["kind"],
                transferer=item["transferer"],
                transferee=item["transferee"],
                target=item["target"],
                at=None if at is None else float(at),
            )
        )
    outcome = document.get("outcome")
    return Call(
        id=document["id"],
        direction=Direction(document["direction"]),
        caller=_party(document.get("caller")),
        callee=_party(document.get("callee")),
        rang=list(document.get("rang") or []),
        answered_by=document.get("answered_by"),
        outcome=None if outcome is None else Outcome(outcome),
        cause=document.get("cause"),
        cause_text=document.get("cause_text") or "",
        started_at=seconds("started_at"),
        ringing_at=seconds("ringing_at"),
        answered_at=seconds("answered_at"),
        ended_at=seconds("ended_at"),
        recording=document.get("recording"),
        transfers=transfers,
        queue=document.get("queue"),
        extension_outcomes={
            ext: Outcome(value) for ext, value in (document.get("extension_outcomes") or {}).items()
        },
    )


def _party(value: Mapping[str, str] | None) -> Party:
    value = value or {}
    return Party(number=value.get("number", ""), name=value.get("name", ""))
