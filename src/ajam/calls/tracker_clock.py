"""The PBX's own time for each event, so that a replay gives the same durations as watching live.

Asterisk stamps some events and not others. For every event the clock takes, in this order:

1. ``Timestamp:`` (``timestampevents=yes`` in manager.conf): POSIX seconds with microseconds;
2. ``EventTV`` / ``EventTime`` of a ``CEL`` event: either POSIX seconds (``cel.conf`` without
   ``dateformat``) or a local ``YYYY-MM-DD HH:MM:SS[.ffffff]`` date in the PBX's time zone
   (``TrackerConfig.pbx_timezone``; the captures' PBX ran in UTC);
3. the creation second in a ``Newchannel``'s ``Uniqueid`` (``<epoch>.<counter>``);
4. for an event without a time of its own: the last stamped time plus the time that went by since it
   arrived (``received_at``), or the last stamped time itself when nothing tells how time passed
   (an offline replay);
5. ``received_at`` alone, when the PBX never stamped anything yet.

The clock never runs backwards: CEL dates have one-second resolution and may be older than a time
extrapolated from ``received_at``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from ajam.protocol.message import Event


class EventClock:
    __slots__ = ("_anchor_pbx", "_anchor_received", "_last", "_last_text", "_last_value", "_zone")

    def __init__(self, pbx_timezone: str = "UTC") -> None:
        self._zone: tzinfo = ZoneInfo(pbx_timezone)
        self._anchor_pbx: float | None = None
        self._anchor_received: float | None = None
        self._last: float | None = None
        self._last_text = ""
        self._last_value: float | None = None

    @property
    def last(self) -> float | None:
        """The latest PBX time seen (``None`` before the first stamped event)."""
        return self._last

    def stamp(self, event: Event, name: str, received_at: float | None) -> float | None:
        """The PBX time of ``event`` (``name`` is its already-read event name)."""
        own: float | None = None
        stamp = event.get("Timestamp")
        if stamp is not None:
            own = _float(stamp)
        elif name == "CEL":
            text = event.get("EventTV") or event.get("EventTime")
            if text:
                own = self.parse_date(text)
        elif name == "Newchannel":
            own = uniqueid_epoch(event.get("Uniqueid"))
        return self.advance(own, received_at)

    def advance(self, own: float | None, received_at: float | None) -> float | None:
        """Fold one event's own time (or ``None``) into the clock and return the event's time."""
        last = self._last
        if own is not None:
            if last is None or own > last or received_at is not None:
                self._anchor_pbx = own
                self._anchor_received = received_at
            moment = own
        elif self._anchor_pbx is not None:
            moment = self._anchor_pbx
            if received_at is not None and self._anchor_received is not None:
                moment += max(0.0, received_at - self._anchor_received)
        elif received_at is not None:
            moment = received_at
        else:
            return last
        if last is not None and moment < last:
            moment = last
        self._last = moment
        return moment

    def parse_date(self, text: str) -> float | None:
        """A CEL/Cdr time: POSIX seconds, or a local date ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (cached)."""
        if text == self._last_text:
            return self._last_value
        value = _float(text)
        if value is None:
            try:
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=self._zone)
                value = moment.timestamp()
            except ValueError:
                value = None
        self._last_text = text
        self._last_value = value
        return value


def uniqueid_epoch(uniqueid: str | None) -> float | None:
    """The creation second in a ``Uniqueid`` like ``1795740570.2`` (``None`` for other shapes)."""
    if not uniqueid:
        return None
    head = uniqueid.partition(".")[0]
    if len(head) < 9 or not head.isdigit():
        return None
    return float(head)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
