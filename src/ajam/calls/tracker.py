"""The call tracker: manager events in, call updates out (sans-I/O, Asterisk 12+ event model).

A call is everything sharing one ``Linkedid``. The channel that created it is the *origin* (the
caller, or for an Originate the channel Asterisk called first); channels it dials (``DialBegin`` with a
``Channel``, queue members) are *legs*. Outcomes come from the legs' ``DialEnd`` status, the queue
events, the Originate's result and, when nothing else tells, the hangup causes (rules in
:mod:`ajam.calls.tracker_state`). Times come from :class:`~ajam.calls.tracker_clock.EventClock`.

The tracker never raises on events it does not know, on channels it never saw (attaching in the middle
of calls) or on missing headers; :meth:`CallTracker.resync` adopts live channels from
``CoreShowChannels`` and closes calls that vanished. Work per event is a few dictionary lookups.
"""

from __future__ import annotations

from ajam.calls.model import Call, Outcome, Party, Transfer
from ajam.calls.tracker_clock import uniqueid_epoch
from ajam.calls.tracker_core import (
    ANSWERED,
    ENDED,
    RINGING,
    UPDATED,
    CallUpdate,
    Handler,
    OriginateResult,
    TrackerConfig,
    TrackerCore,
)
from ajam.calls.tracker_state import (
    LEG,
    ORIGIN,
    OTHER,
    CallState,
    Channel,
    channel_base,
    clean,
    dialed_number,
)
from ajam.protocol.message import Event

__all__ = [
    "ANSWERED",
    "ENDED",
    "RINGING",
    "UPDATED",
    "CallTracker",
    "CallUpdate",
    "OriginateResult",
    "TrackerConfig",
]


class CallTracker(TrackerCore):
    def __init__(self, config: TrackerConfig | None = None) -> None:
        super().__init__(config)
        self._handlers: dict[str, Handler] = {
            "Newchannel": self._newchannel,
            "NewCallerid": self._newcallerid,
            "Newstate": self._newstate,
            "DialBegin": self._dialbegin,
            "DialEnd": self._dialend,
            "BridgeEnter": self._bridgeenter,
            "HangupRequest": self._hanguprequest,
            "Hangup": self._hangup,
            "QueueCallerJoin": self._queue_join,
            "QueueCallerAbandon": self._queue_abandon,
            "AgentCalled": self._queue_join,
            "AgentConnect": self._agentconnect,
            "AgentRingNoAnswer": self._agentringnoanswer,
            "VarSet": self._varset,
            "Newexten": self._newexten,
            "MixMonitorStart": self._mixmonitorstart,
            "OriginateResponse": self._originateresponse,
            "BlindTransfer": self._blindtransfer,
            "AttendedTransfer": self._attendedtransfer,
            "CEL": self._clock_only,
        }

    # ------------------------------------------------------------------ public API
    def feed(self, event: Event, received_at: float | None = None) -> list[CallUpdate]:
        """Apply one event; the updates it caused (often none)."""
        name = event.get("Event", "")
        handler = self._handlers.get(name)
        if handler is None:
            return []
        return handler(event, self._clock.stamp(event, name, received_at))

    def resync(self, channels: list[Event], received_at: float | None = None) -> list[CallUpdate]:
        """Reconcile with a fresh ``CoreShowChannels`` list: adopt channels never seen, keep calls
        that survived, end calls whose channels all vanished as :attr:`Outcome.UNKNOWN_END`."""
        now = self._clock.advance(None, received_at)
        seen: set[str] = set()
        updates: list[CallUpdate] = []
        for listed in channels:
            uniqueid = listed.get("Uniqueid")
            if not uniqueid or listed.get("Event", "") != "CoreShowChannel":
                continue
            seen.add(uniqueid)
            known = self._channels.get(uniqueid)
            if known is None:
                updates.extend(self._adopt(listed, now))
            elif listed.get("ChannelStateDesc") == "Up":
                known.up = True
                known.call.any_up = True
        for uniqueid in [uid for uid in self._channels if uid not in seen]:
            self._channels.pop(uniqueid).call.live -= 1
        for state in [state for state in self._calls.values() if state.live <= 0]:
            updates.append(self._finish(state, now, Outcome.UNKNOWN_END))
        return updates

    def live_calls(self) -> list[Call]:
        return [state.call for state in self._calls.values()]

    def get(self, call_id: str) -> Call | None:
        state = self._calls.get(call_id)
        return state.call if state is not None else None

    def originate_result(self, action_id: str) -> OriginateResult | None:
        return self._originates.get(action_id)

    # ------------------------------------------------------------------ queues
    def _queue_join(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        queue = event.get("Queue")
        if channel is None or not queue or channel.call.call.queue == queue:
            return []
        channel.call.call.queue = queue
        return [CallUpdate(UPDATED, channel.call.call)]

    def _queue_abandon(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is not None:
            channel.call.abandoned = True
            channel.call.call.queue = event.get("Queue") or channel.call.call.queue
        return []

    def _agentconnect(self, event: Event, now: float | None) -> list[CallUpdate]:
        dest = self._channels.get(event.get("DestUniqueid", ""))
        if dest is None:
            return []
        dest.call.call.queue = event.get("Queue") or dest.call.call.queue
        if dest.party is None:
            dest.party = Party(dest.extension or dialed_number(event.get("Interface")), dest.party_name)
        return self._answered(dest.call, dest, now)

    def _agentringnoanswer(self, event: Event, now: float | None) -> list[CallUpdate]:
        dest = self._channels.get(event.get("DestUniqueid", ""))
        if dest is not None and dest.extension is not None:
            dest.call.call.extension_outcomes[dest.extension] = Outcome.NO_ANSWER
        return []

    # ------------------------------------------------------------------ recordings
    def _varset(self, event: Event, now: float | None) -> list[CallUpdate]:
        if event.get("Variable") != "MIXMONITOR_FILENAME":
            return []
        return self._recording(event, event.get("Value", ""))

    def _newexten(self, event: Event, now: float | None) -> list[CallUpdate]:
        if event.get("Application") != "MixMonitor":
            return []
        return self._recording(event, event.get("AppData", "").partition(",")[0])

    def _recording(self, event: Event, path: str) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is None or not path or "${" in path:
            return []
        if not path.startswith("/"):
            path = f"{self.config.recording_dir}/{path}"
        call = channel.call.call
        if call.recording == path:
            return []
        call.recording = path
        return [CallUpdate(UPDATED, call)]

    def _mixmonitorstart(self, event: Event, now: float | None) -> list[CallUpdate]:
        channel = self._channels.get(event.get("Uniqueid", ""))
        if channel is not None and channel.call.mixmonitor is None:
            channel.call.mixmonitor = channel.uniqueid
        return []

    # ------------------------------------------------------------------ originate, transfers
    def _originateresponse(self, event: Event, now: float | None) -> list[CallUpdate]:
        uniqueid = event.get("Uniqueid")
        name = event.get("Channel", "")
        channel = self._channels.get(uniqueid or "")
        state = channel.call if channel is not None else self._originating.get(channel_base(name))
        action_id = event.get("ActionID")
        reason = event.get("Reason", "")
        if action_id:
            self._originates[action_id] = OriginateResult(
                action_id=action_id,
                response=event.get("Response", ""),
                reason=reason,
                channel=name,
                uniqueid=uniqueid if uniqueid and uniqueid != "<unknown>" else None,
                call_id=state.call.id if state is not None else None,
            )
            while len(self._originates) > self.config.originate_results:
                self._originates.popitem(last=False)
        if state is None:
            return []
        state.originate_reason = reason
        if state.legs == 0 and state.origin is not None and state.origin.role == ORIGIN:
            state.originated = True
        caller = state.call.caller
        if not caller.number:
            caller.number = clean(event.get("CallerIDNum"))
            caller.name = clean(event.get("CallerIDName"))
        exten = event.get("Exten", "")
        call = state.call
        if exten and exten != "s" and state.legs == 0:  # where the Originate sends its first channel
            state.dialed = exten
            if not state.answered or state.answer_from_originate:
                call.callee = Party(exten, "")
        call.direction = self._direction(state)
        updates = [CallUpdate(UPDATED, call)]
        if reason == "4" and state.originate_status is None and state.origin is not None:
            state.originate_status = "ANSWER"  # the DialEnd was filtered out (ami_41)
            state.originate_answered_at = now
            if state.legs == 0 and state.origin.party is not None:  # else its DialEnd answers it
                updates.extend(self._answered(state, state.origin, now, from_originate=True))
        return updates

    def _blindtransfer(self, event: Event, now: float | None) -> list[CallUpdate]:
        if event.get("Result") != "Success":
            return []
        transferee = self._channels.get(event.get("TransfereeUniqueid", ""))
        transferer = self._channels.get(event.get("TransfererUniqueid", ""))
        holder = transferee or transferer
        if holder is None:
            return []
        call = holder.call.call
        call.transfers.append(
            Transfer(
                kind="blind",
                transferer=_who(transferer, event, "Transferer"),
                transferee=_who(transferee, event, "Transferee"),
                target=event.get("Extension", ""),
                at=now,
            )
        )
        return [CallUpdate(UPDATED, call)]

    def _attendedtransfer(self, event: Event, now: float | None) -> list[CallUpdate]:
        if event.get("Result") != "Success":
            return []
        transferee = self._channels.get(event.get("TransfereeUniqueid", ""))
        transferer = self._channels.get(event.get("OrigTransfererUniqueid", ""))
        target = self._channels.get(event.get("TransferTargetUniqueid", ""))
        holder = transferee or transferer
        if holder is None:
            return []
        state = holder.call
        if target is not None and target.call is not state:
            target.call.live -= 1  # the consultation call's target now belongs to the transferred call
            target.call = state
            target.role = LEG
            state.live += 1
        state.call.transfers.append(
            Transfer(
                kind="attended",
                transferer=_who(transferer, event, "OrigTransferer"),
                transferee=_who(transferee, event, "Transferee"),
                target=_who(target, event, "TransferTarget"),
                at=now,
            )
        )
        return [CallUpdate(UPDATED, state.call)]

    def _clock_only(self, event: Event, now: float | None) -> list[CallUpdate]:
        return []

    # ------------------------------------------------------------------ resync
    def _adopt(self, listed: Event, now: float | None) -> list[CallUpdate]:
        """A live channel found by ``CoreShowChannels`` that the tracker never saw."""
        uniqueid = listed.get("Uniqueid", "")
        linkedid = listed.get("Linkedid") or uniqueid
        created = uniqueid_epoch(uniqueid)  # the creation second; Duration only when it is not an epoch
        if created is None and now is not None:
            created = now - _duration(listed.get("Duration"))
        state = self._calls.get(linkedid)
        updates: list[CallUpdate] = []
        if state is None:
            state = CallState(Call(id=linkedid, started_at=created))
            self._calls[linkedid] = state
            updates.append(CallUpdate(UPDATED, state.call))
        call = state.call
        if created is not None and (call.started_at is None or created < call.started_at):
            call.started_at = created
        name = listed.get("Channel", "")
        up = listed.get("ChannelStateDesc") == "Up"
        if name.endswith(";2"):  # the dialplan half of a Local channel: neither caller nor callee
            channel = self._add_channel(state, uniqueid, name, OTHER, listed.get("CallerIDName"))
        elif uniqueid == linkedid and state.origin is None:
            channel = self._add_channel(state, uniqueid, name, ORIGIN, listed.get("CallerIDName"))
            self._make_origin(state, channel, listed)
            connected = clean(listed.get("ConnectedLineNum"))
            if connected:
                call.callee = Party(connected, clean(listed.get("ConnectedLineName")))
        else:
            channel = self._add_channel(state, uniqueid, name, LEG, listed.get("CallerIDName"))
            channel.party = Party(channel.extension or clean(listed.get("CallerIDNum")), channel.party_name)
            if channel.extension is not None and channel.extension not in call.rang:
                call.rang.append(channel.extension)
            state.legs += 1
            if state.leg_party is None:
                state.leg_party = channel.party
            if up:
                channel.dial_status = "ANSWER"
                updates.extend(self._answered(state, channel, created))
            else:
                state.ringing += 1
                updates.append(CallUpdate(RINGING, call, channel.extension))
        if up:
            channel.up = state.any_up = True
        call.direction = self._direction(state)
        return updates


def _who(channel: Channel | None, event: Event, prefix: str) -> str:
    """A transfer party: our extension, else the CallerID the event shows for that channel."""
    if channel is not None and channel.extension is not None:
        return channel.extension
    return clean(event.get(prefix + "CallerIDNum")) or event.get(prefix + "Channel", "")


def _duration(text: str | None) -> float:
    """``CoreShowChannel`` ``Duration`` (``HH:MM:SS``, or plain seconds) → seconds."""
    if not text:
        return 0.0
    seconds = 0.0
    try:
        for part in text.split(":"):
            seconds = seconds * 60 + float(part)
    except ValueError:
        return 0.0
    return seconds
