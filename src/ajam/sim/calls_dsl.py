"""The call-script language: one line per event, played against the live PBX state.

A script is a set of named fragments (``== name``); each line is tab-separated::

    <t>  <EventKind>  <refs>  [key=value]...

``t``
    seconds since the fragment started (scenario time; real sleeps are ``delta / speed``).
``refs``
    comma-separated channel letters for the kind's snapshot blocks (``-`` = block absent), then
    ``%n`` for a bridge: ``A``, ``-,B`` (DialBegin without Channel), ``A,%1`` (BridgeEnter); an event
    with several bridge blocks (AttendedTransfer) lists them in order: ``T,K,X,Y,%t,%k``.
``key=value``
    lower-case keys change the state *before* the event is rendered: ``state=6``, ``priority=3``,
    ``app=Wait``, ``B.cid_name=...``; ``new=<name>`` creates the channel (next global Uniqueid),
    ``link=A`` sets its Linkedid. Capitalised keys are event fields that differ from the kind's
    defaults (:data:`ajam.sim.channels.EVENT_KINDS`); ``!Key`` drops a field. ``when=<value>`` plays
    the line only when the value is not empty (``when=${p.xfer_queue}``: a queue member's status).

Values may use ``${A.name}``, ``${A.uid}``, ``${A.link}``, ``${A.num}``/``${A.cidname}`` (caller id),
``${A.device}`` (``PJSIP/101``), ``${%1}`` (bridge id), ``${L1}`` (a Local
channel pair number), ``${seq}`` (the next PJSIP channel number), ``${p.<param>}`` (scenario parameters
such as the caller's number), ``${now}``/``${boot}`` (epoch seconds) and ``${action_id}``.
Each event kind's side effects on the state (hangup removes the channel, bridge enter/leave, queue
callers and member status, CDR records, variables) live in :meth:`Call.before`/:meth:`Call.after` —
once, for every scenario. ``media=on`` marks where a channel's RTP starts flowing: from then on the
call emits an ``RTCPSent`` report for it every :data:`RTCP_INTERVAL` seconds until it hangs up
(generated between script lines on the call's clock, never scripted). ``media=linger`` lets the stream
outlive its channel (a SIP transferer's dialog lasts until the REFER notifications end): its reports go
on, without a channel block, until ``media=off``.

Transfers hand a running call over to another flow (:meth:`Call.take_over`): the current fragment stops
at its next pause and the call continues with the new flow, on the same channels and clock.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace

from ajam.sim.channels import (
    DROP,
    EVENT_KINDS,
    Bridge,
    Channel,
    Clock,
    Headers,
    Queue,
    QueueMember,
    RenderContext,
    render,
)

RTCP_INTERVAL = 5.0  # res_rtp_asterisk's default rtcpinterval (ms 5000): one RTCPSent per stream

_VAR = re.compile(r"\$\{([^}]+)\}")
CHANNEL_ATTRS = frozenset(
    {"state", "cid_num", "cid_name", "conn_num", "conn_name", "language", "accountcode", "context", "exten",
     "priority", "app", "appdata", "name"}
)  # fmt: skip


class Template:
    """A value with ``${...}`` variables, split once at parse time."""

    __slots__ = ("parts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.parts: tuple[tuple[bool, str], ...] = tuple(
            (index % 2 == 1, piece) for index, piece in enumerate(_VAR.split(text)) if piece or index % 2
        )

    def render(self, call: Call) -> str:
        if len(self.parts) == 1 and not self.parts[0][0]:
            return self.parts[0][1]
        return "".join(call.variable(piece) if is_var else piece for is_var, piece in self.parts)


@dataclass(frozen=True)
class Line:
    time: float
    kind: str
    refs: tuple[str | None, ...]
    bridge: str | None
    updates: tuple[tuple[str, str, Template], ...]  # (channel ref, attribute, value)
    fields: tuple[tuple[str, Template], ...]
    more_bridges: tuple[str, ...] = ()  # further bridge refs (AttendedTransfer's second bridge)
    when: Template | None = None

    def format(self) -> str:
        bridges = ([self.bridge] if self.bridge else []) + list(self.more_bridges)
        refs = [ref or "-" for ref in self.refs] + bridges
        parts = [f"{self.time:.3f}", self.kind, ",".join(refs) or "_"]
        for ref, attr, value in self.updates:
            prefix = "" if self.refs and ref == self.refs[0] else f"{ref}."
            parts.append(f"{prefix}{attr}={value.text}")
        for key, value in self.fields:
            parts.append(f"!{key}" if value.text == DROP else f"{key}={value.text}")
        if self.when is not None:
            parts.append(f"when={self.when.text}")
        return "\t".join(parts)


def parse_line(text: str) -> Line:
    time_text, kind, ref_text, *items = text.split("\t")
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r} in {text!r}")
    refs: list[str | None] = []
    bridges: list[str] = []
    for ref in ref_text.split(",") if ref_text != "_" else []:
        if ref.startswith("%"):
            bridges.append(ref)
        else:
            refs.append(None if ref == "-" else ref)
    first = next((ref for ref in refs if ref), "")
    updates: list[tuple[str, str, Template]] = []
    fields: list[tuple[str, Template]] = []
    when = None
    for item in items:
        if item.startswith("!"):
            fields.append((item[1:], Template(DROP)))
            continue
        key, _, value = item.partition("=")
        if key == "when":
            when = Template(value)
        elif key[:1].islower() or "." in key:
            ref, dot, attr = key.rpartition(".")
            updates.append((ref if dot else first, attr, Template(value)))
        else:
            fields.append((key, Template(value)))
    bridge = bridges[0] if bridges else None
    return Line(
        float(time_text), kind, tuple(refs), bridge, tuple(updates), tuple(fields), tuple(bridges[1:]), when
    )


def parse_script(text: str) -> dict[str, list[Line]]:
    """Fragments by name from a script text (``== name`` headers, ``#`` comments)."""
    fragments: dict[str, list[Line]] = {}
    current: list[Line] | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("== "):
            current = fragments.setdefault(raw[3:].strip(), [])
            continue
        if current is None:
            raise ValueError("script line before the first '== fragment' header")
        current.append(parse_line(raw))
    return fragments


@dataclass
class Switchboard:
    """Everything live in the PBX: channels, bridges, queues, counters, and the event sink."""

    clock: Clock
    emit: Callable[[Headers], None]
    channels: dict[str, Channel] = field(default_factory=dict)  # by name, in creation order
    bridges: dict[str, Bridge] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    recordings: dict[str, str] = field(default_factory=dict)  # channel name -> file
    next_uid: int = 0
    next_seq: int = 0
    next_local: int = 1
    boot: float = 0.0
    calls: set[Call] = field(default_factory=set)
    bridge_seq: int = 0

    def new_uniqueid(self, now: float) -> str:
        uid = f"{int(now)}.{self.next_uid}"
        self.next_uid += 1
        return uid

    def new_bridge_id(self) -> str:
        self.bridge_seq += 1
        n = self.bridge_seq
        return f"{n:08x}-{(n * 7919) & 0xFFFF:04x}-4{n & 0xFFF:03x}-a{(n * 31) & 0xFFF:03x}-{n * 2654435761 & 0xFFFFFFFFFFFF:012x}"

    def find(self, name: str) -> Channel | None:
        return self.channels.get(name)


@dataclass(frozen=True)
class EndpointBehaviour:
    """How a simulated SIP phone answers a call (see :meth:`ajam.sim.pbx.Pbx.set_endpoint_behaviour`)."""

    mode: str = "answer"
    after: float | None = None  # answer_after: seconds of ringing before the phone answers


class HangupRequested(Exception):
    """A Hangup action arrived while a fragment was playing (see :meth:`Call.teardown`)."""


@dataclass(eq=False)
class Call:
    """One call in progress: its channel/bridge references, parameters and scenario clock."""

    board: Switchboard
    params: dict[str, str] = field(default_factory=dict)
    action_id: str | None = None
    refs: dict[str, Channel] = field(default_factory=dict)
    bridges: dict[str, Bridge] = field(default_factory=dict)
    locals: dict[str, str] = field(default_factory=dict)
    start: float = 0.0
    offset: float = 0.0  # scenario seconds since start
    hangup_requested: asyncio.Event = field(default_factory=asyncio.Event)
    hangup_target: str | None = None
    hangup_cause: int = 16
    notes: dict[str, str] = field(default_factory=dict)
    pause: tuple[float, float] | None = None  # (monotonic start, scenario seconds) of the current pause
    answer_after: dict[str, float] = field(default_factory=dict)  # channel-name prefix -> ringing seconds
    # the PBX's live endpoint settings ("102" -> behaviour), shared so later settings apply to transfers
    endpoints: dict[str, EndpointBehaviour] = field(default_factory=dict)
    next_flow: Callable[[Call], Awaitable[None]] | None = None  # set by take_over()
    lingering: list[Channel] = field(default_factory=list)  # hung-up channels whose media goes on

    def __post_init__(self) -> None:
        if not self.start:
            self.start = self.board.clock.now()

    @property
    def now(self) -> float:
        """The call's virtual time; it also runs during a pause, so actions see live durations."""
        running = 0.0
        if self.pause is not None:
            started, length = self.pause
            running = min(length, (time.monotonic() - started) * self.board.clock.speed)
        return self.start + self.offset + running

    # -------------------------------------------------------------- templates
    def variable(self, name: str) -> str:
        if name.startswith("p."):
            return self.params.get(name[2:], "")
        if name.startswith("%"):
            return self.bridge(name).uniqueid
        ref, dot, attr = name.partition(".")
        if dot:
            channel = self.refs[ref]
            values = {
                "name": channel.name,
                "uid": channel.uniqueid,
                "link": channel.linkedid,
                "num": channel.cid_num,
                "cidname": channel.cid_name,
                "device": channel.name.rpartition("-")[0] or channel.name,
            }
            return values[attr]
        if name == "seq":
            value = f"{self.board.next_seq:08x}"
            self.board.next_seq += 1
            return value
        if name == "now":
            return str(int(self.now))
        if name == "boot":
            return str(int(self.board.boot))
        if name == "action_id":
            return self.action_id if self.action_id is not None else DROP
        if name.startswith("L"):
            if name not in self.locals:
                self.locals[name] = f"{self.board.next_local:08x}"
                self.board.next_local += 1
            return self.locals[name]
        raise KeyError(f"unknown script variable {name!r}")

    def bridge(self, ref: str) -> Bridge:
        """The bridge a script letter names; it is live on the board from its BridgeCreate to its
        BridgeDestroy only (a letter may also just name an id, as BRIDGEPVTCALLID does in the captures:
        registering those on first use kept one dead bridge per call for ever)."""
        bridge = self.bridges.get(ref)
        if bridge is None:
            bridge = Bridge(self.board.new_bridge_id())
            self.bridges[ref] = bridge
        return bridge

    # -------------------------------------------------------------- state + events
    def update(self, ref: str, attr: str, value: str) -> None:
        if attr == "new":
            channel = Channel(value, self.board.new_uniqueid(self.now), "", self.now, call=self)
            channel.linkedid = channel.uniqueid
            self.refs[ref] = channel
            self.board.channels[channel.name] = channel
            return
        channel = self.refs[ref]
        if attr == "link":
            channel.linkedid = self.refs[value].uniqueid
        elif attr == "media":
            if value == "linger":
                if channel not in self.lingering:
                    self.lingering.append(channel)
                return
            if channel in self.lingering:
                self.lingering.remove(channel)
            channel.media_since = self.now if value == "on" else None
            channel.rtcp_sent = 0
        elif attr == "state":
            channel.set_state(int(value), self.now)
        elif attr == "name":
            self.board.channels.pop(channel.name, None)
            channel.name = value
            self.board.channels[value] = channel
        elif attr in CHANNEL_ATTRS:
            setattr(channel, attr, value)
        else:
            raise KeyError(f"unknown channel attribute {attr!r}")

    def apply(self, line: Line) -> Headers | None:
        """Apply one script line to the state and return the rendered event (None: ``when`` empty)."""
        if line.when is not None and not line.when.render(self):
            return None
        for ref, attr, value in line.updates:
            self.update(ref, attr, value.render(self))
        given = {key: value.render(self) for key, value in line.fields}
        channels = tuple(self.refs[ref] if ref else None for ref in line.refs)
        bridge = self.bridge(line.bridge) if line.bridge else None
        more = tuple(self.bridge(ref) for ref in line.more_bridges)
        return self.event(line.kind, channels, bridge, given, more_bridges=more)

    def event(
        self,
        kind_name: str,
        channels: tuple[Channel | None, ...],
        bridge: Bridge | None,
        given: dict[str, str],
        *,
        more_bridges: tuple[Bridge, ...] = (),
        media: Channel | None = None,
    ) -> Headers:
        kind = EVENT_KINDS[kind_name]
        first = next((c for c in channels if c is not None), None)
        self.before(kind_name, first, bridge)
        context = self.context(kind_name, channels, bridge, given)
        bridges = ((bridge,) if bridge is not None else ()) + more_bridges
        context = replace(context, bridges=bridges, media=media)
        headers = render(kind, context, given)
        self.after(kind_name, first, bridge, given, channels)
        self.board.emit(headers)
        return headers

    def context(
        self, kind: str, channels: tuple[Channel | None, ...], bridge: Bridge | None, given: dict[str, str]
    ) -> RenderContext:
        """What the kind's field defaults may look at (the queue member, the CDR record)."""
        member = record = None
        if kind == "QueueMemberStatus":
            queue = self.board.queues.get(given.get("Queue", ""))
            member = queue.member(given.get("Interface", "")) if queue is not None else None
        elif kind == "Cdr" and channels and channels[0] is not None:
            record = channels[0].cdr_for(given.get("DestinationChannel", ""))
        return RenderContext(channels, bridge, self.now, member=member, record=record)

    def bind(self, channels: dict[str, Channel], bridges: dict[str, Bridge] | None = None) -> None:
        """Give live channels/bridges script letters (a transfer flow names the parties it finds)."""
        self.refs.update(channels)
        for ref, bridge in (bridges or {}).items():
            self.bridges[ref] = bridge

    def forget(self, *refs: str) -> None:
        """Drop letters (and bridge refs) so a repeated fragment creates fresh channels and bridges."""
        for ref in refs:
            self.refs.pop(ref, None)
            self.bridges.pop(ref, None)

    def take_over(self, flow: Callable[[Call], Awaitable[None]]) -> None:
        """Continue the call with ``flow``: the running fragment stops at its next pause."""
        self.next_flow = flow
        self.hangup_target = None
        self.hangup_requested.set()

    def before(self, kind: str, channel: Channel | None, bridge: Bridge | None) -> None:
        """Side effects visible in the event itself (a bridge counts the channel entering it)."""
        if bridge is None or channel is None:
            return
        if kind == "BridgeEnter":
            bridge.channels.append(channel.name)
            channel.bridge = bridge.uniqueid
        elif kind == "BridgeLeave":
            if channel.name in bridge.channels:
                bridge.channels.remove(channel.name)
            channel.bridge = ""

    def after(
        self,
        kind: str,
        channel: Channel | None,
        bridge: Bridge | None,
        given: dict[str, str],
        channels: tuple[Channel | None, ...] = (),
    ) -> None:
        board = self.board
        pair = channels[:2] if len(channels) >= 2 else (None, None)
        if kind == "DialBegin" and pair[0] is not None and pair[1] is not None:
            pair[0].cdr_dial(pair[1].name)
        elif kind == "DialEnd" and pair[0] is not None and pair[1] is not None:
            if given.get("DialStatus") != "ANSWER":
                pair[0].cdr_close(pair[1].name, self.now)
        elif kind == "BlindTransfer" and pair[0] is not None and pair[1] is not None:
            pair[1].cdr_close(pair[0].name, self.now)  # the transferee's record with the transferer ends
        elif kind == "AttendedTransfer" and len(channels) >= 3 and channels[0] and channels[2]:
            channels[2].cdr_close(channels[0].name, self.now)
        if kind == "Hangup" and channel is not None:
            board.channels.pop(channel.name, None)
            board.recordings.pop(channel.name, None)
        elif kind == "BridgeCreate" and bridge is not None:
            board.bridges[bridge.uniqueid] = bridge
        elif kind == "BridgeDestroy" and bridge is not None:
            board.bridges.pop(bridge.uniqueid, None)
        elif kind == "VarSet" and channel is not None:
            channel.variables[given.get("Variable", "")] = given.get("Value", "")
        elif kind == "DeviceStateChange":
            board.devices[given.get("Device", "")] = given.get("State", "")
        elif kind == "MixMonitorStart" and channel is not None:
            board.recordings[channel.name] = channel.variables.get("MIXMONITOR_FILENAME", "")
        elif kind == "MixMonitorStop" and channel is not None:
            board.recordings.pop(channel.name, None)
        elif kind.startswith(("Queue", "Agent")):
            self.queue_effect(kind, channel, given)

    def queue_effect(self, kind: str, channel: Channel | None, given: dict[str, str]) -> None:
        queue = self.board.queues.get(given.get("Queue", ""))
        if queue is None:
            return
        if kind == "QueueCallerJoin" and channel is not None:
            queue.callers.append(channel.uniqueid)
        elif kind == "QueueCallerLeave" and channel is not None and channel.uniqueid in queue.callers:
            queue.callers.remove(channel.uniqueid)
        elif kind == "QueueCallerAbandon":
            queue.abandoned += 1
        elif kind == "AgentConnect":
            queue.holdtime = _running_average(
                queue.holdtime, int(given.get("HoldTime", "0")), queue.completed
            )
        elif kind == "AgentComplete":
            queue.talktime = _running_average(
                queue.talktime, int(given.get("TalkTime", "0")), queue.completed
            )
            queue.completed += 1
            member = queue.member(given.get("Interface", ""))
            if member is not None:  # app_queue's update_queue(): one more call, LastCall = its end
                member.calls_taken += 1
                member.last_call = int(self.now)
        elif kind == "QueueMemberStatus":
            member = queue.member(given.get("Interface", ""))
            if member is not None:
                for key, attr in (("Status", "status"), ("InCall", "in_call"), ("CallsTaken", "calls_taken")):
                    if given.get(key, "").isdigit():
                        setattr(member, attr, int(given[key]))

    # -------------------------------------------------------------- timing
    async def _pause(self, seconds: float, interruptible: bool) -> bool:
        """Let ``seconds`` of scenario time pass (real sleep ``seconds / speed``); True if a Hangup
        action cut it short (only when ``interruptible``)."""
        speed = self.board.clock.speed
        self.pause = (time.monotonic(), seconds)
        try:
            if not interruptible:
                await asyncio.sleep(seconds / speed)
            elif not self.hangup_requested.is_set():
                try:
                    await asyncio.wait_for(self.hangup_requested.wait(), seconds / speed)
                except TimeoutError:
                    pass
            interrupted = interruptible and self.hangup_requested.is_set()
            self.offset += (
                min(seconds, (time.monotonic() - self.pause[0]) * speed) if interrupted else seconds
            )
        finally:
            self.pause = None
        return interrupted

    async def _pass(self, seconds: float, interruptible: bool) -> bool:
        """Scenario time passes; the RTCP reports that fall due meanwhile are sent on time."""
        target = self.offset + seconds
        while True:
            due = self.next_report()
            stop = target if due is None else min(target, due - self.start)
            if stop > self.offset and await self._pause(stop - self.offset, interruptible):
                return True
            if due is None or due - self.start > target:
                return False
            self.send_reports()

    def media_streams(self) -> list[Channel]:
        """Channels whose RTP flows: live ones, then hung-up ones whose stream lingers."""
        live = self.live_channels()
        return live + [channel for channel in self.lingering if channel not in live]

    def next_report(self) -> float | None:
        """Virtual time of the next RTCP report of this call's media streams."""
        times = [
            channel.media_since + RTCP_INTERVAL * (channel.rtcp_sent + 1)
            for channel in self.media_streams()
            if channel.media_since is not None
        ]
        return min(times) if times else None

    def send_reports(self) -> None:
        now = self.now + 1e-9
        live = self.live_channels()
        for channel in self.media_streams():
            if (
                channel.media_since is not None
                and channel.media_since + RTCP_INTERVAL * (channel.rtcp_sent + 1) <= now
            ):
                channel.rtcp_sent += 1
                if channel in live:
                    self.event("RTCPSent", (channel,), None, {})
                else:  # the channel is gone: Asterisk's report has no channel snapshot
                    self.event("RTCPSent", (None,), None, {}, media=channel)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of scenario time pass (real sleep ``seconds / speed``)."""
        if seconds > 0:
            await self._pass(seconds, interruptible=False)

    async def wait(self, seconds: float) -> bool:
        """Scenario wait that a Hangup action can cut short; True when it was interrupted."""
        if self.hangup_requested.is_set():
            return True
        return await self._pass(seconds, interruptible=True)

    async def play(
        self, lines: Iterable[Line], *, interruptible: bool = True, base: float | None = None
    ) -> float:
        """Play a fragment; a Hangup action during one of its pauses raises :class:`HangupRequested`
        (unless not ``interruptible``: the request then waits for the flow's next :meth:`wait`).

        Returns the fragment's time origin; passing it as ``base`` plays the next part of the same
        fragment on the same timeline (a flow that acts between a fragment's lines)."""
        base = self.offset if base is None else base
        for line in lines:
            base += self.answer_shift(line, base)
            target = base + line.time
            if target > self.offset:
                if not interruptible:
                    await self.advance(target - self.offset)
                elif await self.wait(target - self.offset):
                    raise HangupRequested
            self.apply(line)
        return base

    def answer_shift(self, line: Line, base: float) -> float:
        """Seconds to move the rest of a fragment so a phone with an ``answer_after`` setting answers
        (``state=6`` on its channel) that long after its channel appeared; never into the past."""
        for ref, attr, value in line.updates:
            channel = self.refs.get(ref)
            if attr != "state" or value.text != "6" or channel is None:
                continue
            for prefix, after in self.answer_after.items():
                if channel.name.startswith(prefix) and channel.answered is None:
                    wanted = channel.created - self.start + after
                    return max(self.offset, wanted) - (base + line.time)
        return 0.0

    def teardown(self) -> None:
        """Generic end of a call cut short by a Hangup action where no capture shows the exact tail."""
        live = self.live_channels()
        live.sort(key=lambda channel: channel.name != self.hangup_target)
        if live:
            self.event("HangupRequest", (live[0],), None, {"Cause": str(self.hangup_cause)})
        for channel in live:
            bridge = self.board.bridges.get(channel.bridge)
            if bridge is not None:
                self.event("BridgeLeave", (channel,), bridge, {})
            cause = self.hangup_cause if channel is live[0] else 16
            if channel.answered is not None:
                self.event("Cdr", (channel,), None, {})
            self.event("Hangup", (channel,), None, {"Cause": str(cause)})
        for bridge in self.bridges.values():
            if bridge.uniqueid in self.board.bridges and not bridge.channels:
                self.event("BridgeDestroy", (), bridge, {})

    def request_hangup(self, channel: Channel, cause: int) -> None:
        self.hangup_target = channel.name
        self.hangup_cause = cause
        self.hangup_requested.set()

    def live_channels(self) -> list[Channel]:
        return [channel for channel in self.refs.values() if self.board.channels.get(channel.name) is channel]


def _running_average(average: int, sample: int, count: int) -> int:
    return (average * count + sample) // (count + 1)


def default_queues(boot: float) -> dict[str, Queue]:
    """The queues of the simulated dialplan (config/queues.conf and queues-sip.conf)."""
    login = int(boot)
    return {
        "testq": Queue(
            "testq", members=[QueueMember("Agent One", "Local/agent@queue-members", login_time=login)]
        ),
        "support": Queue(
            "support",
            members=[
                QueueMember("Anna Smirnova", "PJSIP/102", login_time=login),
                QueueMember("Олег Сидоров", "PJSIP/103", login_time=login),
            ],
        ),
    }
