"""Reduce AMI event sequences to their *structure*, so a simulated call can be compared to a capture.

Two sequences have the same structure when they have the same events in the same order, each with
the same header names in the same order, the same values for the headers that describe the call
(:data:`COMPARED`), and the same *relations* between ids: every Uniqueid/Linkedid/bridge id and every
channel number (``-0000000b``) is replaced by the order of its first appearance, inside any value.
Values that follow the clock or the machine (times, durations, RTP figures, session ids) are ignored.

Relaxations (the one place they are written down):

* ``RTCPSent``/``RTCPReceived`` are media statistics emitted on a timer, not call state: dropped.
* Only events the simulated PBX models are kept (:data:`ajam.sim.channels.EVENT_KINDS`), and list
  events answering an action (those carrying an ``ActionID``, except ``OriginateResponse``) are not part
  of a call.
* ``Value`` of ``VarSet`` and the ``Extra`` of CEL are compared only through ids (timings such as
  ``RINGTIME`` or ``ANSWEREDTIME`` depend on when the far end answered).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ajam.protocol.stream import parse_messages
from ajam.sim.channels import EVENT_KINDS, Headers
from tests.support.transcripts import Transcript

COMPARED = frozenset(
    [
        "Event",
        "Privilege",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Context",
        "Exten",
        "Priority",
        "Application",
        "AppData",
        "Extension",
        "Variable",
        "DialStatus",
        "DialString",
        "Cause",
        "Cause-txt",
        "Response",
        "Reason",
        "EventName",
        "Disposition",
        "Queue",
        "Position",
        "Count",
        "MemberName",
        "Interface",
        "Status",
        "InCall",
        "Device",
        "State",
        "Result",
        "IsExternal",
        "LocalOptimization",
        "Source",
        "Destination",
        "DestinationContext",
        "CallerID",
        "LastApplication",
        "LastData",
        "BridgeType",
        "BridgeTechnology",
        "BridgeNumChannels",
        "Class",
        "Membership",
    ]
)
# emitted by the call model on its own clock (ajam.sim.calls_dsl), not scripted from the captures
TIMER_EVENTS = frozenset({"RTCPSent", "RTCPReceived"})
_PREFIXES = (
    "",
    "Dest",
    "LocalOne",
    "LocalTwo",
    "Transferer",
    "Transferee",
    "OrigTransferer",
    "SecondTransferer",
)
_IDS = re.compile(r"\d{9,10}\.\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COUNTER = re.compile(r"(?<=-)[0-9a-f]{8}(?=;[12]|\b)")


def _compared(key: str) -> bool:
    if key in COMPARED:
        return True
    return any(key == prefix + base for prefix in _PREFIXES[1:] for base in COMPARED if prefix)


def call_events(transcript: Transcript) -> list[tuple[float, Headers]]:
    """The call events a server sent in a capture (AMI or rawman bodies), with their capture time."""
    out: list[tuple[float, Headers]] = []
    for chunk in transcript.of_kind("S>C"):
        data = chunk.data
        if data.startswith(b"HTTP/"):
            data = data.split(b"\r\n\r\n", 1)[1]
        if not data.strip() or data.startswith(b"Asterisk Call Manager"):
            continue
        for message in parse_messages(data):
            headers = list(message.headers)
            if headers and headers[0][0] == "Event" and is_call_event(headers):
                out.append((chunk.time, headers))
    return out


def is_call_event(headers: Headers) -> bool:
    name = headers[0][1]
    if name not in EVENT_KINDS or name in TIMER_EVENTS:
        return False
    return name == "OriginateResponse" or all(key != "ActionID" for key, _ in headers)


class _Relations:
    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.counters: dict[str, str] = {}

    def value(self, value: str) -> str:
        value = _IDS.sub(lambda m: self.ids.setdefault(m.group(), f"<id{len(self.ids)}>"), value)
        return _COUNTER.sub(lambda m: self.counters.setdefault(m.group(), f"<n{len(self.counters)}>"), value)


def structure(events: Iterable[Headers]) -> list[tuple[object, ...]]:
    """One tuple per event: (header names, compared values, id relations of every other value)."""
    relations = _Relations()
    result: list[tuple[object, ...]] = []
    for headers in events:
        keys = tuple(key for key, _ in headers)
        values = []
        for key, value in headers:
            related = relations.value(value)
            if _compared(key):
                values.append((key, related))
            elif related != value:  # an id or channel number: keep only the relation
                values.append((key, "".join(re.findall(r"<(?:id|n)\d+>", related))))
        result.append((keys, tuple(values)))
    return result


def first_difference(actual: Sequence[Headers], expected: Sequence[Headers]) -> str | None:
    """A readable description of the first structural difference, or None when equal."""
    left, right = structure(actual), structure(expected)
    for index, (got, want) in enumerate(zip(left, right, strict=False)):
        if got != want:
            return f"event #{index} ({expected[index][0][1]}):\n  got  {got}\n  want {want}"
    if len(left) != len(right):
        extra = actual[len(right)] if len(left) > len(right) else expected[len(left)]
        return f"length {len(left)} != {len(right)}; first unmatched: {extra[:3]}"
    return None
