"""What the tracker remembers per channel and per live call, and the rules that turn it into outcomes.

Kept small on purpose (``__slots__``, strings taken from the events, no copies of events): a busy PBX
has thousands of live calls and the tracker must stay under 2 KiB per call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ajam.calls.model import Call, Outcome, Party

# channel roles
ORIGIN = 1  # the channel that started the call (the caller, or the channel an Originate called first)
LEG = 2  # a channel dialed by a channel of the call (Dial, Queue)
OTHER = 3  # the second half of a Local channel, a channel adopted without context

DIAL_STATUS_OUTCOMES: dict[str, Outcome] = {
    "ANSWER": Outcome.ANSWERED,
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.CANCELLED,
    "CHANUNAVAIL": Outcome.FAILED,
    "CONGESTION": Outcome.CONGESTION,
    "DONTCALL": Outcome.FAILED,
    "TORTURE": Outcome.FAILED,
    "INVALIDARGS": Outcome.FAILED,
}

# OriginateResponse Reason (enum ast_control_frame_type): 0 hung up while ringing, 1 hangup,
# 3 ring timeout, 4 answered, 5 busy, 8 congestion
ORIGINATE_REASON_OUTCOMES: dict[str, Outcome] = {
    "0": Outcome.CANCELLED,
    "1": Outcome.FAILED,
    "3": Outcome.NO_ANSWER,
    "4": Outcome.ANSWERED,
    "5": Outcome.BUSY,
    "8": Outcome.CONGESTION,
}

# Q.850 hangup causes that tell an outcome by themselves
CAUSE_OUTCOMES: dict[int, Outcome] = {
    17: Outcome.BUSY,
    18: Outcome.NO_ANSWER,
    19: Outcome.NO_ANSWER,
    127: Outcome.CANCELLED,
    34: Outcome.CONGESTION,
    38: Outcome.CONGESTION,
    41: Outcome.CONGESTION,
    42: Outcome.CONGESTION,
    44: Outcome.CONGESTION,
    1: Outcome.FAILED,
    3: Outcome.FAILED,
    20: Outcome.FAILED,
    21: Outcome.FAILED,
    22: Outcome.FAILED,
    27: Outcome.FAILED,
    28: Outcome.FAILED,
    29: Outcome.FAILED,
}
ANSWERED_ELSEWHERE_CAUSE = 26

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;[12])?$")
_UNKNOWN = ("<unknown>", "<Unknown>", "")


def clean(value: str | None) -> str:
    """A CallerID field without Asterisk's ``<unknown>`` placeholder."""
    return "" if value is None or value in _UNKNOWN else value


def channel_base(name: str) -> str:
    """``PJSIP/101-00000001`` → ``PJSIP/101``; ``Local/x@ctx-0000000a;1`` → ``Local/x@ctx``."""
    return _CHANNEL_SUFFIX.sub("", name)


def endpoint_of(name: str) -> str:
    """The endpoint (resource) of a channel name: ``PJSIP/101-00000001`` → ``101``,
    ``Local/agent@queue-members-0000000b;1`` → ``agent``."""
    resource = channel_base(name).partition("/")[2]
    return resource.partition("@")[0]


def dialed_number(dial_string: str | None) -> str:
    """The number in a Dial string: ``4951112233@carrier`` → ``4951112233``, ``PJSIP/102`` → ``102``."""
    if not dial_string:
        return ""
    text = dial_string.partition("&")[0].partition(",")[0]
    if "/" in text:
        text = text.partition("/")[2]
    return text.partition("@")[0]


@dataclass(frozen=True)
class ChannelKinds:
    """Compiled configuration: which channels are our phones, which are trunks."""

    internal_extensions: re.Pattern[str]
    trunk_channels: re.Pattern[str]
    external_numbers: re.Pattern[str]
    inbound_contexts: frozenset[str]
    internal_contexts: frozenset[str]

    def extension_of(self, name: str) -> str | None:
        """The extension when ``name`` is one of our phones (``PJSIP/101-...`` → ``101``)."""
        if name.startswith("Local/") or self.trunk_channels.search(name):
            return None
        endpoint = endpoint_of(name)
        return endpoint if self.internal_extensions.search(endpoint) else None

    def is_trunk(self, name: str) -> bool:
        return self.trunk_channels.search(name) is not None


class Channel:
    """One live channel of a tracked call (its name is not kept: only its kind matters later)."""

    __slots__ = (
        "call",
        "dial_status",
        "extension",
        "party",
        "party_name",
        "role",
        "trunk",
        "uniqueid",
        "up",
    )

    def __init__(self, uniqueid: str, call: CallState, role: int) -> None:
        self.uniqueid = uniqueid
        self.call = call
        self.role = role
        self.extension: str | None = None  # our phone's extension, when it is one
        self.trunk = False
        self.up = False
        self.party_name = ""  # the CallerIDName the channel was created with (a phone's own name)
        self.dial_status: str | None = None  # DialEnd status when this channel was dialed
        self.party: Party | None = None  # who this channel reaches, once it was dialed


class CallState:
    """The tracker's working state for one live call (the public :class:`Call` plus bookkeeping)."""

    __slots__ = (
        "abandoned",
        "answer_from_originate",
        "answered",
        "any_up",
        "call",
        "caller_gave_up",
        "dialed",
        "inbound",
        "last_status",
        "leg_party",
        "legs",
        "live",
        "mixmonitor",
        "origin",
        "origin_cause",
        "originate_answered_at",
        "originate_base",
        "originate_reason",
        "originate_status",
        "originated",
        "outbound",
        "pending_cancel",
        "ringing",
        "several_legs",
    )

    def __init__(self, call: Call) -> None:
        self.call = call
        self.live = 0  # channels not yet hung up
        self.origin: Channel | None = None
        self.originated = False  # the first channel was called by an Originate
        self.originate_base: str | None = None  # channel_base of the originated channel
        self.originate_status: str | None = None
        self.originate_answered_at: float | None = None
        self.originate_reason: str | None = None
        self.answered = False  # a callee took the call (its time may be unknown)
        self.answer_from_originate = False  # the call's answer so far is the Originate's first channel
        self.inbound = False
        self.outbound = False
        self.dialed = ""  # the number the caller dialed (DID, extension, external number)
        self.legs = 0  # main legs dialed (not counting the Originate's own call)
        self.leg_party: Party | None = None  # the main destination (the first one when several)
        self.several_legs = False  # main legs went to more than one destination (ring group, queue)
        self.last_status: str | None = None  # DialEnd status of the latest main leg
        self.ringing = 0  # main legs dialed and not yet ended
        self.caller_gave_up = False
        self.abandoned = False
        self.any_up = False
        self.mixmonitor: str | None = None  # Uniqueid of the channel that started MixMonitor
        self.origin_cause: int | None = None
        self.pending_cancel: list[str] | None = None  # extensions whose leg ended with CANCEL


def decide_outcome(state: CallState) -> Outcome:
    """The call's outcome when its last channel is gone (see issue 4's rules)."""
    call = state.call
    if state.answered:
        return Outcome.ANSWERED
    if state.abandoned or call.queue is not None:
        return Outcome.ABANDONED
    if state.legs:
        status = state.last_status
        if status is None or status == "ANSWER":
            return Outcome.CANCELLED if state.caller_gave_up else _by_cause(state, Outcome.NO_ANSWER)
        if status == "CANCEL" or state.caller_gave_up:
            return Outcome.CANCELLED
        return DIAL_STATUS_OUTCOMES.get(status, Outcome.FAILED)
    if state.originated:
        status = state.originate_status
        if status == "ANSWER":
            return Outcome.ANSWERED
        if status in ("BUSY", "CHANUNAVAIL", "CONGESTION"):
            return DIAL_STATUS_OUTCOMES[status]
        by_reason = ORIGINATE_REASON_OUTCOMES.get(state.originate_reason or "")
        if by_reason is not None and by_reason is not Outcome.ANSWERED:
            return by_reason
        if status is not None and status != "ANSWER":
            return DIAL_STATUS_OUTCOMES.get(status, Outcome.FAILED)
    return _by_cause(state, Outcome.FAILED)


def _by_cause(state: CallState, default: Outcome) -> Outcome:
    cause = state.origin_cause if state.origin_cause is not None else state.call.cause
    if cause is None:
        return default
    return CAUSE_OUTCOMES.get(cause, default)
