"""The core of the call tracker: channels, dialing, answers, hangups and the end of a call.

:class:`TrackerCore` holds the state; :class:`~ajam.calls.tracker.CallTracker` adds the queue,
recording, Originate, transfer and resync handlers and the public API. The types of the agreed
interface (:class:`CallUpdate`, :class:`TrackerConfig`, :class:`OriginateResult`) live here and are
re-exported by :mod:`ajam.calls.tracker`.
"""

from __future__ import annotations

import re
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ajam.calls.model import Call, Direction, Outcome, Party
from ajam.calls.tracker_clock import EventClock, uniqueid_epoch
from ajam.calls.tracker_state import (
    ANSWERED_ELSEWHERE_CAUSE,
    CAUSE_OUTCOMES,
    DIAL_STATUS_OUTCOMES,
    LEG,
    ORIGIN,
    OTHER,
    CallState,
    Channel,
    ChannelKinds,
    channel_base,
    clean,
    decide_outcome,
    dialed_number,
)
from ajam.protocol.message import Event

RINGING = "ringing"
ANSWERED = "answered"
ENDED = "ended"
UPDATED = "updated"


@dataclass(frozen=True, slots=True)
class CallUpdate:
    kind: str  # "ringing" | "answered" | "ended" | "updated"
    call: Call  # the call (live object; copy before storing elsewhere)
    extension: str | None = None  # for "ringing"/"answered": which extension rings/answered


@dataclass(frozen=True)
class TrackerConfig:
    internal_extensions: str = r"^\d{2,5}$"  # numbers that are our extensions (e.g. 101)
    internal_contexts: tuple[str, ...] = ("agents", "from-internal", "internal", "default")
    inbound_contexts: tuple[str, ...] = ("from-carrier", "from-trunk", "from-pstn", "from-external")
    trunk_channels: str = r"^(PJSIP|SIP|IAX2|DAHDI)/(carrier|trunk|provider)"
    external_numbers: str = r"^\+?\d{6,}$"  # a dialed number that leaves the PBX (outbound)
    pbx_timezone: str = "UTC"  # zone of CEL/Cdr dates, which carry no offset
    recording_dir: str = "/var/spool/asterisk/monitor"  # where relative MixMonitor names land
    originate_results: int = 1024  # how many OriginateResponse results to keep by ActionID

    def kinds(self) -> ChannelKinds:
        return ChannelKinds(
            internal_extensions=re.compile(self.internal_extensions),
            trunk_channels=re.compile(self.trunk_channels),
            external_numbers=re.compile(self.external_numbers),
            inbound_contexts=frozenset(self.inbound_contexts),
            internal_contexts=frozenset(self.internal_contexts),
        )


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """An ``OriginateResponse`` event (Reason: 0 hung up while ringing, 3 no answer, 4 answered, 5 busy,
    8 congestion)."""

    action_id: str
    response: str
    reason: str
    channel: str
    uniqueid: str | None
    call_id: str | None

    @property
    def success(self) -> bool:
        return self.response.lower() == "success"


Handler = Callable[[Event, float | None], list[CallUpdate]]


class TrackerCore:
    """Channels and calls by id, and the handlers every call needs (see the module docstring)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._kinds = self.config.kinds()
        self._clock = EventClock(self.config.pbx_timezone)
        self._channels: dict[str, Channel] = {}
        self._calls: dict[str, CallState] = {}
        self._originating: dict[str, CallState] = {}  # channel_base of an originated channel → call
        self._originates: OrderedDict[str, OriginateResult] = OrderedDict()

    # ------------------------------------------------------------------ channels
    def _newchannel(self, event: Event, now: float | None) -> list[CallUpdate]:
        uniqueid = event.get("Uniqueid")
        if not uniqueid or uniqueid in self._channels:
            return []
        linkedid = event.get("Linkedid") or uniqueid
        state = self._calls.get(linkedid)
        name = event.get("Channel", "")
        if state is not None:
            channel = self._add_channel(state, uniqueid, name, OTHER, event.get("CallerIDName"))
            channel.up = event.get("ChannelStateDesc") == "Up"
            return []
        call = Call(id=linkedid, started_at=now)
        state = CallState(call)
        self._calls[linkedid] = state
        channel = self._add_channel(state, uniqueid, name, ORIGIN, event.get("CallerIDName"))
        self._make_origin(state, channel, event)
        return [CallUpdate(UPDATED, call)]

    def _channel_from(self, event: Event, prefix: str, now: float | None) -> Channel | None:
        """A channel first met in a ``DialBegin`` (``prefix`` ``""`` or ``"Dest"``): Newchannel was
        missed (attached mid-call, or filtered out by the manager user's Filter)."""
        uniqueid = event.get(prefix + "Uniqueid")
        if not uniqueid:
            return None
        linkedid = event.get(prefix + "Linkedid") or uniqueid
        state = self._calls.get(linkedid)
        name = event.get(prefix + "Channel", "")
        if state is not None:
            return self._add_channel(state, uniqueid, name, OTHER, event.get(prefix + "CallerIDName"))
        state = CallState(Call(id=linkedid, started_at=uniqueid_epoch(linkedid) or now))
        self._calls[linkedid] = state
        channel = self._add_channel(state, uniqueid, name, ORIGIN, event.get(prefix + "CallerIDName"))
        self._make_origin(state, channel, event, prefix)
        return channel

    def _add_channel(
        self, state: CallState, uniqueid: str, name: str, role: int, caller_name: str | None
    ) -> Channel:
        channel = Channel(uniqueid, state, role)
        extension = self._kinds.extension_of(name)
        channel.trunk = self._kinds.is_trunk(name)
        channel.party_name = clean(caller_name)
        if extension is not None:  # our phones recur in every call: one copy of their number and name
            channel.extension = sys.intern(extension)
            channel.party_name = sys.intern(channel.party_name)
        self._channels[uniqueid] = channel
        state.live += 1
        return channel

    def _make_origin(self, state: CallState, channel: Channel, event: Event, prefix: str = "") -> None:
        """``channel`` started the call: it is the caller, its context tells whether it came in."""
        state.origin = channel
        call = state.call
        number = channel.extension or clean(event.get(prefix + "CallerIDNum"))
        call.caller = Party(number, channel.party_name)
        context = event.get(prefix + "Context", "")
        state.inbound = channel.trunk or context in self._kinds.inbound_contexts
        exten = event.get(prefix + "Exten", "")
        if exten and exten != "s" and not prefix:
            state.dialed = exten
            call.callee = Party(exten, "")
        if event.get(prefix + "ChannelStateDesc") == "Up":
            channel.up = state.any_up = True
        call.direction = self._direction(state)

    def _newcallerid(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is None or channel.role != ORIGIN or channel.extension is not None:
            return []  # a phone stays who it is, whatever CallerID an Originate shows on it
        number = clean(event.get("CallerIDNum"))
        if not number:
            return []
        caller = channel.call.call.caller
        caller.number = number
        caller.name = clean(event.get("CallerIDName"))
        return [CallUpdate(UPDATED, channel.call.call)]

    def _newstate(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is None:
            return []
        desc = event.get("ChannelStateDesc")
        if desc == "Up":
            channel.up = channel.call.any_up = True
        elif desc == "Ringing" and channel.role == LEG and channel.call.call.ringing_at is None:
            channel.call.call.ringing_at = now
        return []

    # ------------------------------------------------------------------ dialing
    def _dialbegin(self, event: Event, now: float | None) -> list[CallUpdate]:
        dest = self._channels.get(event.get("DestUniqueid", ""))
        caller_id = event.get("Uniqueid")
        if caller_id is None:  # an Originate calls its first channel: no caller channel
            if dest is None:
                dest = self._channel_from(event, "Dest", now)
                if dest is None:
                    return []
            state = dest.call
            if dest is state.origin:
                if state.originate_reason is None:  # its Newchannel Exten was its own, not a number dialed
                    state.dialed = ""
                    state.call.callee = Party()
                state.originated = True
                state.originate_base = channel_base(event.get("DestChannel", ""))
                self._originating[state.originate_base] = state
            dest.party = Party(dest.extension or dialed_number(event.get("DialString")), dest.party_name)
            return self._ringing(state, dest, now)
        source = self._channels.get(caller_id) or self._channel_from(event, "", now)
        if source is None:
            return []
        state = source.call
        if dest is None:
            dest_id = event.get("DestUniqueid")
            if not dest_id:
                return []
            dest = self._add_channel(
                state, dest_id, event.get("DestChannel", ""), LEG, event.get("DestCallerIDName")
            )
        dest.role = LEG
        exten = event.get("Exten", "")
        if not state.dialed and exten and exten != "s":
            state.dialed = exten
        if dest.extension is not None:
            party = Party(dest.extension, dest.party_name)
        elif dest.trunk:
            party = Party(state.dialed or dialed_number(event.get("DialString")), "")
            state.outbound = True
        else:
            party = Party(dialed_number(event.get("DialString")), "")
        dest.party = party
        call = state.call
        if state.legs == 0:
            state.leg_party = party
            if state.answer_from_originate:
                state.answer_from_originate = False  # that answer was the agent, not the customer
                state.answered = False
                call.answered_at = None
                call.answered_by = None
        elif state.leg_party is None or state.leg_party.number != party.number:
            state.several_legs = True
        state.legs += 1
        state.ringing += 1
        if not call.callee.number:
            call.callee = Party(state.dialed or party.number, "")
        call.direction = self._direction(state)
        return self._ringing(state, dest, now)

    def _ringing(self, state: CallState, dest: Channel, now: float | None) -> list[CallUpdate]:
        call = state.call
        if call.ringing_at is None:
            call.ringing_at = now
        extension = dest.extension
        if extension is not None and extension not in call.rang:
            call.rang.append(extension)
        return [CallUpdate(RINGING, call, extension)]

    def _dialend(self, event: Event, now: float | None) -> list[CallUpdate]:
        dest = self._channels.get(event.get("DestUniqueid", ""))
        if dest is None:
            return []
        state = dest.call
        status = event.get("DialStatus", "")
        first = dest.dial_status is None
        dest.dial_status = status
        updates: list[CallUpdate] = []
        if dest.role == ORIGIN:
            state.originate_status = status
            if status == "ANSWER":
                state.originate_answered_at = now
                if state.legs == 0:
                    updates = self._answered(state, dest, now, from_originate=True)
        else:
            if first and state.ringing > 0:
                state.ringing -= 1
            state.last_status = status
            if status == "ANSWER":
                updates = self._answered(state, dest, now)
        extension = dest.extension
        if extension is not None and first:
            outcome = DIAL_STATUS_OUTCOMES.get(status)
            if status == "CANCEL":
                if state.pending_cancel is None:
                    state.pending_cancel = []
                state.pending_cancel.append(extension)
            elif outcome is not None:
                state.call.extension_outcomes[extension] = outcome
        return updates

    def _answered(
        self, state: CallState, channel: Channel, now: float | None, from_originate: bool = False
    ) -> list[CallUpdate]:
        call = state.call
        if state.answered:
            return []
        state.answered = True
        state.answer_from_originate = from_originate
        state.any_up = True
        call.answered_at = now
        party = channel.party
        call.answered_by = party.number if party is not None and party.number else channel.extension
        if party is not None and not from_originate:
            call.callee = party
        if channel.extension is not None:
            call.extension_outcomes[channel.extension] = Outcome.ANSWERED
        return [CallUpdate(ANSWERED, call, channel.extension)]

    def _bridgeenter(self, event: Event, now: float | None) -> list[CallUpdate]:
        """A dialed channel bridged without a DialEnd seen (attached mid-call, filtered events)."""
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is None or channel.role != LEG or channel.dial_status is not None:
            return []
        channel.dial_status = "ANSWER"
        if channel.call.ringing > 0:
            channel.call.ringing -= 1
        return self._answered(channel.call, channel, now)

    # ------------------------------------------------------------------ hangups
    def _hanguprequest(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is not None and channel.role == ORIGIN:
            state = channel.call
            if state.ringing > 0 and not state.answered:
                state.caller_gave_up = True
        return []

    def _hangup(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.pop(event.get("Uniqueid", ""), None)
        if channel is None:
            return []
        state = channel.call
        call = state.call
        cause = _int(event.get("Cause"))
        if channel is state.origin or state.origin_cause is None:
            call.cause = cause
            call.cause_text = event.get("Cause-txt", "")
            if channel is state.origin:
                state.origin_cause = cause
        if channel.role == LEG and channel.dial_status is None:
            if state.ringing > 0:
                state.ringing -= 1
            outcome = CAUSE_OUTCOMES.get(cause) if cause is not None else None
            if channel.extension is not None and outcome is not None:
                call.extension_outcomes.setdefault(channel.extension, outcome)
        if cause == ANSWERED_ELSEWHERE_CAUSE and channel.extension is not None:
            call.extension_outcomes[channel.extension] = Outcome.ANSWERED_ELSEWHERE
        state.live -= 1
        if state.live > 0:
            return []
        return [self._finish(state, now, None)]

    def _finish(self, state: CallState, now: float | None, outcome: Outcome | None) -> CallUpdate:
        call = state.call
        call.ended_at = now
        if outcome is None:
            outcome = decide_outcome(state)
        call.outcome = outcome
        if outcome is Outcome.ANSWERED and not state.answered:
            call.answered_at = state.originate_answered_at
        for extension in state.pending_cancel or ():
            if call.extension_outcomes.get(extension) in (None, Outcome.CANCELLED):
                elsewhere = state.answered and call.answered_by != extension
                call.extension_outcomes[extension] = (
                    Outcome.ANSWERED_ELSEWHERE if elsewhere else Outcome.CANCELLED
                )
        if not state.answered and state.leg_party is not None and not state.several_legs:
            call.callee = state.leg_party
        if not state.any_up:
            call.recording = None  # MixMonitor of a call nobody answered leaves an empty file
        elif call.recording is None and state.mixmonitor is not None:
            call.recording = f"{self.config.recording_dir}/{state.mixmonitor}.wav"
        call.direction = self._direction(state)
        self._calls.pop(call.id, None)
        if state.originate_base is not None and self._originating.get(state.originate_base) is state:
            del self._originating[state.originate_base]
        return CallUpdate(ENDED, call)

    def _direction(self, state: CallState) -> Direction:
        if state.inbound:
            return Direction.INBOUND
        if state.outbound or self._kinds.external_numbers.search(state.dialed):
            return Direction.OUTBOUND
        return Direction.INTERNAL


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None
