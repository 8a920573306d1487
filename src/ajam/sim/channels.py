"""Live telephony state of the simulated PBX and the one place every event's header layout is written.

The state is what Asterisk keeps per channel (name, Uniqueid/Linkedid, state 0..6, caller and connected
line, dialplan location, running application, bridge), per bridge and per queue. Events are *rendered from
that state*: :data:`EVENT_KINDS` lists, per event name, the channel snapshot blocks it carries (``""``,
``"Dest"``, ``"Transferer"``...) and its own fields with their derived defaults. Scenario scripts
(:mod:`ajam.sim.calls_dsl`) only say which kind, which channels and which values differ from the defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Headers = list[tuple[str, str]]

STATE_DESC = ("Down", "Rsrvd", "OffHook", "Dialing", "Ring", "Ringing", "Up", "Busy")

CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    127: "Interworking, unspecified",
}

UNKNOWN = "<unknown>"

SNAPSHOT_KEYS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
)


@dataclass(eq=False)
class CdrRecord:
    """One CDR of a channel. Asterisk starts one per channel, forks one per further dialled peer (ring
    group, queue members), closes a peer's record when that dial fails or a transfer ends it, and then
    opens a fresh record for the channel's further dialplan (dispatched only if the channel answered)."""

    start: float
    peer: str = ""
    end: float | None = None


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    created: float
    state: int = 0
    cid_num: str = UNKNOWN
    cid_name: str = UNKNOWN
    conn_num: str = UNKNOWN
    conn_name: str = UNKNOWN
    language: str = "en"
    accountcode: str = ""
    context: str = ""
    exten: str = ""
    priority: str = "1"
    app: str = ""
    appdata: str = ""
    answered: float | None = None
    bridge: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    call: object | None = None  # the Call (calls_dsl) that owns this channel
    cdrs: list[CdrRecord] = field(default_factory=list)
    media_since: float | None = None  # RTP flowing since (virtual time); RTCP reports every 5 s from then
    rtcp_sent: int = 0

    def __post_init__(self) -> None:
        if not self.cdrs:
            self.cdrs.append(CdrRecord(self.created))

    # ------------------------------------------------------------ CDR records
    def cdr_dial(self, peer: str) -> None:
        """A Dial/Queue attempt to ``peer`` (DialBegin): the open peerless record takes it, else a fork."""
        blank = next((r for r in self.cdrs if r.end is None and not r.peer), None)
        if blank is not None:
            blank.peer = peer
            return
        base = next((r for r in self.cdrs if r.end is None), None)
        self.cdrs.append(CdrRecord(base.start if base is not None else self.created, peer))

    def cdr_close(self, peer: str, now: float) -> None:
        """The record with ``peer`` ends (failed dial, transfer); a new one starts if none is left open."""
        for record in self.cdrs:
            if record.peer == peer and record.end is None:
                record.end = now
        if all(record.end is not None for record in self.cdrs):
            self.cdrs.append(CdrRecord(now))

    def cdr_for(self, peer: str) -> CdrRecord:
        matches = [record for record in self.cdrs if record.peer == peer]
        return matches[-1] if matches else self.cdrs[-1]

    def snapshot(self, prefix: str = "") -> Headers:
        """The standard channel snapshot block; ``prefix`` gives ``Dest*``, ``Transferer*``... variants."""
        return [
            (prefix + "Channel", self.name),
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC[self.state]),
            (prefix + "CallerIDNum", self.cid_num),
            (prefix + "CallerIDName", self.cid_name),
            (prefix + "ConnectedLineNum", self.conn_num),
            (prefix + "ConnectedLineName", self.conn_name),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", self.priority),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]

    def set_state(self, state: int, now: float) -> None:
        self.state = state
        if state == 6 and self.answered is None:
            self.answered = now


# attribute names used by scripts for snapshot fields (``state=6``, ``cid_name=...``)
SNAPSHOT_ATTRS = {
    "Channel": "name",
    "ChannelState": "state",
    "CallerIDNum": "cid_num",
    "CallerIDName": "cid_name",
    "ConnectedLineNum": "conn_num",
    "ConnectedLineName": "conn_name",
    "Language": "language",
    "AccountCode": "accountcode",
    "Context": "context",
    "Exten": "exten",
    "Priority": "priority",
}


@dataclass(eq=False)
class Bridge:
    uniqueid: str
    type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = UNKNOWN
    name: str = UNKNOWN
    channels: list[str] = field(default_factory=list)
    video_mode: str = "none"

    def snapshot(self, prefix: str = "") -> Headers:
        """The bridge block; ``prefix`` gives AttendedTransfer's ``OrigBridge*``/``SecondBridge*``."""
        return [
            (prefix + "BridgeUniqueid", self.uniqueid),
            (prefix + "BridgeType", self.type),
            (prefix + "BridgeTechnology", self.technology),
            (prefix + "BridgeCreator", self.creator),
            (prefix + "BridgeName", self.name),
            (prefix + "BridgeNumChannels", str(len(self.channels))),
            (prefix + "BridgeVideoSourceMode", self.video_mode),
        ]


@dataclass(eq=False)
class QueueMember:
    name: str
    interface: str
    calls_taken: int = 0
    last_call: int = 0
    login_time: int = 0
    in_call: int = 0
    status: int = 1
    paused: int = 0
    penalty: int = 0


@dataclass(eq=False)
class Queue:
    name: str
    strategy: str = "ringall"
    members: list[QueueMember] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)  # Uniqueids in queue order
    completed: int = 0
    abandoned: int = 0
    holdtime: int = 0
    talktime: int = 0

    def member(self, interface: str) -> QueueMember | None:
        return next((m for m in self.members if m.interface == interface), None)


@dataclass
class Clock:
    """The virtual clock: real monotonic time scaled by ``speed`` from a wall-clock origin."""

    speed: float = 1.0
    origin: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return self.origin + (time.monotonic() - self.started) * self.speed


def cel_time(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp))


def event_tv(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}+0000"


# ---------------------------------------------------------------- event kinds


@dataclass(frozen=True)
class RenderContext:
    """What a field default may look at: the channels of the event (by block), the bridge, the clock."""

    channels: tuple[Channel | None, ...]
    bridge: Bridge | None
    now: float
    member: QueueMember | None = None  # QueueMemberStatus: the member the event is about
    record: CdrRecord | None = None  # Cdr: the channel's CDR record being dispatched
    bridges: tuple[Bridge, ...] = ()  # every bridge of the event (AttendedTransfer's Orig*, Second*)
    media: Channel | None = None  # RTCPSent of a stream whose channel is gone (no snapshot block)

    @property
    def first(self) -> Channel:
        for channel in self.channels:
            if channel is not None:
                return channel
        if self.media is not None:
            return self.media
        raise ValueError("event has no channel")


Default = Callable[[RenderContext, dict[str, str]], str]


def _const(value: str) -> Default:
    return lambda ctx, given: value


def _attr(name: str) -> Default:
    return lambda ctx, given: str(getattr(ctx.first, name))


def _cel_cid(name: str) -> Default:
    def derive(ctx: RenderContext, given: dict[str, str]) -> str:
        value = str(getattr(ctx.first, name))
        return "" if value == UNKNOWN else value

    return derive


def _cause_text(ctx: RenderContext, given: dict[str, str]) -> str:
    return CAUSE_TEXT.get(int(given.get("Cause", "0") or 0), "Unknown")


def _cdr_callerid(ctx: RenderContext, given: dict[str, str]) -> str:
    channel = ctx.first
    name = "" if channel.cid_name == UNKNOWN else channel.cid_name
    num = "" if channel.cid_num == UNKNOWN else channel.cid_num
    return f'"{name}" <{num}>' if name else (f"<{num}>" if num else "")


_EPSILON = 1e-6  # script times are millisecond floats; keep 2.000 - 0.000 from flooring to 1


def _cdr_record(ctx: RenderContext) -> tuple[CdrRecord, float, float | None]:
    """(record, end, answer) of the Cdr being rendered; answer is None when it was never answered."""
    channel = ctx.first
    record = ctx.record or channel.cdr_for("")
    end = record.end if record.end is not None else ctx.now
    answered = channel.answered
    if answered is None or answered > end + _EPSILON:
        return record, end, None
    return record, end, max(answered, record.start)


def _cdr_answer(ctx: RenderContext, given: dict[str, str]) -> str:
    answer = _cdr_record(ctx)[2]
    return cel_time(answer) if answer is not None else ""


def _cdr_duration(ctx: RenderContext, given: dict[str, str]) -> str:
    """Asterisk truncates both durations to whole seconds (billsec rounds only with initiatedseconds)."""
    record, end, _ = _cdr_record(ctx)
    return str(int(end - record.start + _EPSILON))


def _cdr_billable(ctx: RenderContext, given: dict[str, str]) -> str:
    _, end, answer = _cdr_record(ctx)
    return str(int(end - answer + _EPSILON)) if answer is not None else "0"


def _cdr_disposition(ctx: RenderContext, given: dict[str, str]) -> str:
    return "ANSWERED" if _cdr_record(ctx)[2] is not None else "NO ANSWER"


def _member(attr: str) -> Default:
    def derive(ctx: RenderContext, given: dict[str, str]) -> str:
        return str(getattr(ctx.member, attr)) if ctx.member is not None else ""

    return derive


def _rtp_peer(ctx: RenderContext, given: dict[str, str]) -> str:
    """The far end's RTCP address: the trunk (SIPp on 127.0.0.2) or a phone's SIPp media port + 1."""
    endpoint = ctx.first.name.partition("/")[2].rpartition("-")[0]
    if not endpoint.isdigit():
        return "127.0.0.2:6041"
    return f"127.0.0.1:{6001 + 10 * max(0, int(endpoint) - 101)}"


def _rtp_local(ctx: RenderContext, given: dict[str, str]) -> str:
    counter = int(ctx.first.uniqueid.rpartition(".")[2] or 0)
    return f"127.0.0.1:{20000 + 2 * counter}"


def _rtcp_sent(kind: str) -> Default:
    """RTCPSent statistics of the channel's RTP stream: 50 packets of 160 octets a second (ulaw, 20 ms)."""

    def derive(ctx: RenderContext, given: dict[str, str]) -> str:
        channel = ctx.first
        talk = max(0.0, ctx.now - (channel.media_since or ctx.now))
        packets = int(talk * 50)
        ssrc = int(channel.uniqueid.replace(".", "")) * 2654435761 & 0xFFFFFFFF
        values = {
            "SSRC": f"0x{ssrc:08x}",
            "SentNTP": f"{ctx.now:.6f}",
            "SentRTP": str(packets * 160),
            "SentPackets": str(packets),
            "SentOctets": str(packets * 160),
            "Report0SourceSSRC": f"0x{ssrc ^ 0xFFFFFFFF:08x}",
            "Report0HighestSequence": str(packets & 0xFFFF),
        }
        return values[kind]

    return derive


@dataclass(frozen=True)
class EventKind:
    """Header layout of one event name: Privilege, snapshot blocks, bridge block position, own fields."""

    name: str
    privilege: str
    blocks: tuple[str, ...] = ()
    fields: tuple[tuple[str, Default], ...] = ()
    bridge: str = ""  # "" no bridge block, "before" or "after" the channel blocks
    lead: tuple[str, ...] = ()  # fields that come before the blocks (BlindTransfer's Result)
    varying: frozenset[str] = frozenset()  # fields whose value follows the clock / ids (never scripted)


def _kind(
    name: str,
    privilege: str,
    blocks: tuple[str, ...] = ("",),
    fields: tuple[str | tuple[str, Default], ...] = (),
    bridge: str = "",
    varying: tuple[str, ...] = (),
    lead: tuple[str, ...] = (),
) -> EventKind:
    spec = tuple((f, _const("")) if isinstance(f, str) else f for f in fields)
    return EventKind(name, privilege, blocks, spec, bridge=bridge, lead=lead, varying=frozenset(varying))


_CALL = "call,all"
_AGENT = "agent,all"

EVENT_KINDS: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        _kind("Newchannel", _CALL),
        _kind("Newstate", _CALL),
        _kind(
            "NewCallerid",
            _CALL,
            fields=(("CID-CallingPres", _const("0 (Presentation Allowed, Not Screened)")),),
        ),
        _kind("NewConnectedLine", _CALL),
        _kind(
            "Newexten",
            "dialplan,all",
            fields=(
                ("Extension", _attr("exten")),
                ("Application", _attr("app")),
                ("AppData", _attr("appdata")),
            ),
        ),
        _kind("VarSet", "dialplan,all", fields=("Variable", "Value")),
        _kind("Hangup", _CALL, fields=("Cause", ("Cause-txt", _cause_text))),
        _kind("HangupRequest", _CALL, fields=("Cause",)),
        _kind("SoftHangupRequest", _CALL, fields=("Cause",)),
        _kind("DialBegin", _CALL, blocks=("", "Dest"), fields=("DialString",)),
        _kind("DialState", _CALL, blocks=("", "Dest"), fields=("DialStatus",)),
        _kind("DialEnd", _CALL, blocks=("", "Dest"), fields=("DialStatus",)),
        _kind(
            "LocalBridge",
            _CALL,
            blocks=("LocalOne", "LocalTwo"),
            fields=("Context", "Exten", ("LocalOptimization", _const("Yes"))),
        ),
        _kind("BridgeCreate", _CALL, blocks=(), bridge="before"),
        _kind("BridgeDestroy", _CALL, blocks=(), bridge="before"),
        _kind("BridgeEnter", _CALL, bridge="before"),
        _kind("BridgeLeave", _CALL, bridge="before"),
        _kind(
            "BlindTransfer",
            _CALL,
            blocks=("Transferer", "Transferee"),
            fields=(("IsExternal", _const("Yes")), "Context", "Extension"),
            bridge="after",
            lead=("Result",),
        ),
        # main/stasis_bridges.c attended_transfer_to_ami(): Result, OrigTransferer*, OrigBridge*,
        # SecondTransferer*, SecondBridge*, Transferee*, TransferTarget*, IsExternal, DestType + its fields
        _kind(
            "AttendedTransfer",
            _CALL,
            blocks=("OrigTransferer", "@Orig", "SecondTransferer", "@Second", "Transferee", "TransferTarget"),
            fields=(("IsExternal", _const("Yes")), ("DestType", _const("Bridge")), "DestBridgeUniqueid"),
            lead=("Result",),
        ),
        _kind("Hold", _CALL, fields=(("MusicClass", _const("default")),)),
        _kind("Unhold", _CALL),
        _kind("MixMonitorStart", _CALL),
        _kind("MixMonitorStop", _CALL),
        _kind("MusicOnHoldStart", _CALL, fields=(("Class", _const("default")),)),
        _kind("MusicOnHoldStop", _CALL),
        _kind("DeviceStateChange", _CALL, blocks=(), fields=("Device", "State")),
        _kind(
            "OriginateResponse",
            _CALL,
            blocks=(),
            fields=(
                "ActionID",
                "Response",
                "Channel",
                "Context",
                "Exten",
                "Reason",
                "Uniqueid",
                "CallerIDNum",
                "CallerIDName",
            ),
        ),
        _kind("QueueCallerJoin", _AGENT, fields=("Queue", "Position", "Count")),
        _kind("QueueCallerLeave", _AGENT, fields=("Queue", "Position", "Count")),
        _kind("QueueCallerAbandon", _AGENT, fields=("Queue", "Position", "OriginalPosition", "HoldTime")),
        _kind("AgentCalled", _AGENT, blocks=("", "Dest"), fields=("Queue", "Interface", "MemberName")),
        _kind(
            "AgentConnect",
            _AGENT,
            blocks=("", "Dest"),
            fields=("Queue", "Interface", "MemberName", "HoldTime", "RingTime"),
        ),
        _kind(
            "AgentComplete",
            _AGENT,
            blocks=("", "Dest"),
            fields=("Queue", "Interface", "MemberName", "HoldTime", "TalkTime", "Reason"),
        ),
        _kind(
            "QueueMemberStatus",
            _AGENT,
            blocks=(),
            fields=(
                "Queue",
                ("MemberName", _member("name")),
                "Interface",
                ("StateInterface", _member("interface")),
                ("Membership", _const("static")),
                ("Penalty", _member("penalty")),
                ("CallsTaken", _member("calls_taken")),
                ("LastCall", _member("last_call")),
                ("LastPause", _const("0")),
                ("LoginTime", _member("login_time")),
                ("InCall", _member("in_call")),
                ("Status", _member("status")),
                ("Paused", _member("paused")),
                "PausedReason",
                ("Ringinuse", _const("0")),
                ("Wrapuptime", _const("0")),
            ),
            varying=("LastCall", "LoginTime"),
        ),
        _kind(
            "RTCPSent",
            "reporting,all",
            fields=(
                ("To", _rtp_peer),
                ("From", _rtp_local),
                ("MES", _const("88.1")),
                ("SSRC", _rtcp_sent("SSRC")),
                ("PT", _const("200(SR)")),
                ("ReportCount", _const("1")),
                ("SentNTP", _rtcp_sent("SentNTP")),
                ("SentRTP", _rtcp_sent("SentRTP")),
                ("SentPackets", _rtcp_sent("SentPackets")),
                ("SentOctets", _rtcp_sent("SentOctets")),
                ("Report0SourceSSRC", _rtcp_sent("Report0SourceSSRC")),
                ("Report0FractionLost", _const("0")),
                ("Report0CumulativeLost", _const("0")),
                ("Report0HighestSequence", _rtcp_sent("Report0HighestSequence")),
                ("Report0SequenceNumberCycles", _const("0")),
                ("Report0IAJitter", _const("0")),
                ("Report0LSR", _const("0")),
                ("Report0DLSR", _const("0.0000")),
            ),
            varying=("SSRC", "SentNTP", "SentRTP", "SentPackets", "SentOctets", "MES"),
        ),
        _kind(
            "CEL",
            _CALL,
            blocks=(),
            fields=(
                "EventName",
                ("AccountCode", _attr("accountcode")),
                ("CallerIDnum", _cel_cid("cid_num")),
                ("CallerIDname", _cel_cid("cid_name")),
                "CallerIDani",
                "CallerIDrdnis",
                "CallerIDdnid",
                ("Exten", _attr("exten")),
                ("Context", _attr("context")),
                ("Channel", _attr("name")),
                ("Application", _attr("app")),
                ("AppData", _attr("appdata")),
                ("EventTime", lambda ctx, given: cel_time(ctx.now)),
                ("AMAFlags", _const("DOCUMENTATION")),
                ("UniqueID", _attr("uniqueid")),
                ("LinkedID", _attr("linkedid")),
                "Userfield",
                "Peer",
                "PeerAccount",
                "Extra",
            ),
            varying=("EventTime", "UniqueID", "LinkedID"),
        ),
        _kind(
            "Cdr",
            "cdr,all",
            blocks=(),
            fields=(
                ("AccountCode", _attr("accountcode")),
                ("Source", _cel_cid("cid_num")),
                ("Destination", _attr("exten")),
                ("DestinationContext", _attr("context")),
                ("CallerID", _cdr_callerid),
                ("Channel", _attr("name")),
                "DestinationChannel",
                ("LastApplication", _attr("app")),
                ("LastData", _attr("appdata")),
                ("StartTime", lambda ctx, given: cel_time(ctx.first.created)),
                ("AnswerTime", _cdr_answer),
                ("EndTime", lambda ctx, given: cel_time(ctx.now)),
                ("Duration", _cdr_duration),
                ("BillableSeconds", _cdr_billable),
                ("Disposition", _cdr_disposition),
                ("AMAFlags", _const("DOCUMENTATION")),
                ("UniqueID", _attr("uniqueid")),
                "UserField",
            ),
            varying=("StartTime", "AnswerTime", "EndTime", "UniqueID"),
        ),
    )
}

# The events a scenario may need that no capture shows are the ones above without a capture reference
# (Hold, AttendedTransfer); their layouts follow Asterisk's manager documentation and source
# (main/stasis_bridges.c, main/stasis_channels.c).
DROP = "\x00"  # a field value meaning "this event omits the field" (HangupRequest without Cause)


def render(kind: EventKind, ctx: RenderContext, given: dict[str, str]) -> Headers:
    """The event's headers in wire order: Event, Privilege, blocks, bridge, fields, extra given fields."""
    headers: Headers = [("Event", kind.name), ("Privilege", kind.privilege)]
    # a bridge snapshot may be older than the state (BlindTransfer shows the bridge before the leaves)
    bridge = [(key, given.get(key, value)) for key, value in ctx.bridge.snapshot()] if ctx.bridge else []
    known = set(kind.lead) | {key for key, _ in bridge}
    for key in kind.lead:
        headers.append((key, given.get(key, "")))
    if kind.bridge == "before":
        headers += bridge
    channel_index = bridge_index = 0
    for prefix in kind.blocks:
        if prefix.startswith("@"):  # a prefixed bridge block, from ctx.bridges in order
            block = ctx.bridges[bridge_index] if bridge_index < len(ctx.bridges) else None
            bridge_index += 1
            if block is not None:
                pairs = block.snapshot(prefix[1:])
                known.update(key for key, _ in pairs)
                headers += [(key, given.get(key, value)) for key, value in pairs]
            continue
        channel = ctx.channels[channel_index] if channel_index < len(ctx.channels) else None
        channel_index += 1
        if channel is not None:
            headers += channel.snapshot(prefix)
    if kind.bridge == "after":
        headers += bridge
    for key, default in kind.fields:
        known.add(key)
        value = given.get(key)
        if value is None:
            value = default(ctx, given)
        if value != DROP:
            headers.append((key, value))
    for key, value in given.items():
        if key not in known and value != DROP:
            headers.append((key, value))
    return headers
