"""What each real Asterisk capture's call must replay to, read from the capture itself.

Every row was derived by reading the capture (its events, the NOTE lines with the SIPp command lines,
the dialplan in ``shared/asterisk/config``), not from the tracker's output:

- times: ``started`` = the first Newchannel's ``t=+`` offset, ``answered`` = the DialEnd ANSWER /
  AgentConnect of the party that took the call, ``ended`` = the last Hangup; wait = answered-started
  (ended-started when nobody answered), talk = ended-answered. Cdr ``Duration``/``BillableSeconds`` agree.
- sip_09: the customer's answer (carrier leg DialEnd ANSWER at 6.322) is the answer of a click-to-call,
  not the agent's (3.314); sip_12: the agent answered, the customer was busy.
- ``None`` for a duration: the capture carries no time for it (event filters left no stamped event).
"""

from __future__ import annotations

from dataclasses import dataclass, field

INBOUND_CALLER = ("79161234567", "Мария Иванова")
IVAN = ("101", "Иван Петров")
ANNA = ("102", "Anna Smirnova")
OLEG = ("103", "Олег Сидоров")
AMI_TEST = ("100", "AMI Test")
MONITOR = "/var/spool/asterisk/monitor"


@dataclass(frozen=True)
class Expected:
    capture: str
    outcome: str
    direction: str
    caller: tuple[str, str]
    callee: tuple[str, str]
    answered_by: str | None
    wait: float | None
    talk: float | None
    cause: int | None
    rang: tuple[str, ...] = ()
    extension_outcomes: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    transfers: tuple[tuple[str, str, str, str], ...] = ()
    recording: str | None = None
    scenario: str | None = None  # the simulator scenario converted from this capture


SIP = "transcripts-sip/"
LOCAL = "transcripts/"

EXPECTED: list[Expected] = [
    # DID 74951230001: MixMonitor ${UNIQUEID}.wav, Dial(PJSIP/101,15); 101 answers after 3 s, BYE after 6 s
    Expected(
        SIP + "sip_01_inbound_answered_recorded",
        "answered",
        "inbound",
        INBOUND_CALLER,
        IVAN,
        "101",
        wait=3.01,
        talk=6.01,
        cause=16,
        rang=("101",),
        extension_outcomes={"101": "answered"},
        recording=f"{MONITOR}/1795740570.2.wav",
        scenario="sip_inbound_answered_recorded",
    ),
    # 101 answers 486: DialStatus BUSY, Busy(5) to the carrier; the empty WAV of an unanswered call is not a recording
    Expected(
        SIP + "sip_02_inbound_busy",
        "busy",
        "inbound",
        INBOUND_CALLER,
        IVAN,
        None,
        wait=1.01,
        talk=0.0,
        cause=17,
        rang=("101",),
        extension_outcomes={"101": "busy"},
        scenario="sip_inbound_busy",
    ),
    # 101 rings 15 s: DialStatus NOANSWER, the caller is hung up with 16 (603 Decline)
    Expected(
        SIP + "sip_03_inbound_noanswer",
        "no_answer",
        "inbound",
        INBOUND_CALLER,
        IVAN,
        None,
        wait=15.02,
        talk=0.0,
        cause=16,
        rang=("101",),
        extension_outcomes={"101": "no_answer"},
        scenario="sip_inbound_noanswer",
    ),
    # the carrier CANCELs 5 s after 180: HangupRequest 127 on the caller, DialStatus CANCEL
    Expected(
        SIP + "sip_04_inbound_caller_cancel",
        "cancelled",
        "inbound",
        INBOUND_CALLER,
        IVAN,
        None,
        wait=5.01,
        talk=0.0,
        cause=127,
        rang=("101",),
        extension_outcomes={"101": "cancelled"},
        scenario="sip_inbound_caller_cancel",
    ),
    # ring group 101&102: 102 answers after 4 s, 101 gets cause 26 (answered elsewhere), 102 BYE after 5 s
    Expected(
        SIP + "sip_05_ringgroup_answered_by_102",
        "answered",
        "inbound",
        INBOUND_CALLER,
        ANNA,
        "102",
        wait=4.01,
        talk=5.01,
        cause=16,
        rang=("101", "102"),
        extension_outcomes={"101": "answered_elsewhere", "102": "answered"},
        scenario="sip_ringgroup",
    ),
    # queue support (ringall 102+103): 103 answers after 4 s (HoldTime 4), TalkTime 5, 102 cause 26
    Expected(
        SIP + "sip_06_queue_answered_by_103",
        "answered",
        "inbound",
        INBOUND_CALLER,
        OLEG,
        "103",
        wait=4.01,
        talk=5.0,
        cause=16,
        rang=("102", "103"),
        extension_outcomes={"102": "answered_elsewhere", "103": "answered"},
        queue="support",
        scenario="sip_queue_answered",
    ),
    # both agents ring, the caller leaves after 7 s (QueueCallerAbandon HoldTime 7); nobody answered: DID stays the callee
    Expected(
        SIP + "sip_07_queue_abandoned",
        "abandoned",
        "inbound",
        INBOUND_CALLER,
        ("74951230003", ""),
        None,
        wait=7.02,
        talk=0.0,
        cause=0,
        rang=("102", "103"),
        extension_outcomes={"102": "cancelled", "103": "cancelled"},
        queue="support",
        scenario="sip_queue_abandoned",
    ),
    # 101 calls 102 in context agents; 102 answers after 3 s, 101 hangs up after 6 s (Cdr 9/6)
    Expected(
        SIP + "sip_08_internal_101_to_102",
        "answered",
        "internal",
        IVAN,
        ANNA,
        "102",
        wait=3.01,
        talk=6.01,
        cause=16,
        rang=("102",),
        extension_outcomes={"102": "answered"},
        scenario="sip_internal",
    ),
    # Originate PJSIP/101 -> agents,84951112233: agent answers at 3.314, the carrier at 6.322, BYE at 12.328
    Expected(
        SIP + "sip_09_originate_click_to_call_outbound",
        "answered",
        "outbound",
        IVAN,
        ("84951112233", ""),
        "84951112233",
        wait=5.02,
        talk=6.01,
        cause=16,
        rang=("101",),
        extension_outcomes={"101": "answered"},
        scenario="sip_click_to_call",
    ),
    # 101 answers after 2 s, REFERs to 102 at 7.5 s; 102 answers, the carrier talks to 102 until 15.545
    Expected(
        SIP + "sip_10_blind_transfer_101_to_102",
        "answered",
        "inbound",
        INBOUND_CALLER,
        IVAN,
        "101",
        wait=2.05,
        talk=12.06,
        cause=16,
        rang=("101", "102"),
        extension_outcomes={"101": "answered", "102": "answered"},
        transfers=(("blind", "101", "79161234567", "102"),),
        recording=f"{MONITOR}/1795740685.23.wav",
        scenario="sip_blind_transfer",
    ),
    # Originate PJSIP/101 where 101 answers 486: the agent was busy, the customer never called
    Expected(
        SIP + "sip_11_originate_agent_busy",
        "busy",
        "outbound",
        IVAN,
        ("84951112233", ""),
        None,
        wait=1.01,
        talk=0.0,
        cause=17,
        rang=("101",),
        extension_outcomes={"101": "busy"},
        scenario="sip_originate_agent_busy",
    ),
    # click-to-call: the agent answers, the carrier answers 486 => DialStatus BUSY on the outbound leg
    Expected(
        SIP + "sip_12_originate_outbound_carrier_busy",
        "busy",
        "outbound",
        IVAN,
        ("84951112233", ""),
        None,
        wait=2.52,
        talk=0.0,
        cause=17,
        rang=("101",),
        extension_outcomes={"101": "answered"},
        scenario="sip_outbound_busy",
    ),
    # Local channels: Originate CallerID "AMI Test" <100>; the callee is the dialed Local extension
    Expected(
        LOCAL + "ami_20_originate_answered",
        "answered",
        "internal",
        AMI_TEST,
        ("sink", ""),
        "answer",
        wait=0.0,
        talk=2.5,
        cause=16,
        scenario="originate_answered",
    ),
    Expected(
        LOCAL + "ami_21_originate_busy",
        "busy",
        "internal",
        AMI_TEST,
        ("sink", ""),
        None,
        wait=0.0,
        talk=0.0,
        cause=0,
        scenario="originate_busy",
    ),
    Expected(
        LOCAL + "ami_22_originate_noanswer_timeout",
        "no_answer",
        "internal",
        AMI_TEST,
        ("sink", ""),
        None,
        wait=5.0,
        talk=0.0,
        cause=19,
        scenario="originate_noanswer",
    ),
    Expected(
        LOCAL + "ami_23_originate_dial_noanswer",
        "no_answer",
        "internal",
        AMI_TEST,
        ("noanswer", ""),
        None,
        wait=5.0,
        talk=0.0,
        cause=16,
        scenario="dial_noanswer",
    ),
    Expected(
        LOCAL + "ami_24_originate_dial_caller_cancel",
        "cancelled",
        "internal",
        AMI_TEST,
        ("noanswer", ""),
        None,
        wait=2.03,
        talk=0.0,
        cause=0,
        scenario="dial_caller_cancel",
    ),
    Expected(
        LOCAL + "ami_25_originate_cancel_while_ringing",
        "cancelled",
        "internal",
        AMI_TEST,
        ("sink", ""),
        None,
        wait=2.0,
        talk=0.0,
        cause=0,
        scenario="originate_cancel_while_ringing",
    ),
    Expected(
        LOCAL + "ami_26_originate_mixmonitor",
        "answered",
        "internal",
        AMI_TEST,
        ("sink", ""),
        "mixmon",
        wait=0.0,
        talk=3.0,
        cause=16,
        recording=f"{MONITOR}/mixmon-1795739040.19.wav",
        scenario="mixmonitor",
    ),
    Expected(
        LOCAL + "ami_26b_originate_mixmonitor_stop",
        "answered",
        "internal",
        AMI_TEST,
        ("sink", ""),
        "mixmon-stop",
        wait=0.0,
        talk=3.0,
        cause=16,
        recording=f"{MONITOR}/mixmon-stop-1795739061.33.wav",
        scenario="mixmonitor_stop",
    ),
    Expected(
        LOCAL + "ami_27_originate_queue",
        "answered",
        "internal",
        AMI_TEST,
        ("agent", ""),
        "agent",
        wait=0.0,
        talk=2.5,
        cause=16,
        queue="testq",
        scenario="queue_local",
    ),
    Expected(
        LOCAL + "ami_28_originate_dial_answer",
        "answered",
        "internal",
        AMI_TEST,
        ("answer", ""),
        "answer",
        wait=0.0,
        talk=2.5,
        cause=16,
        scenario="dial_answer",
    ),
    Expected(
        LOCAL + "ami_29_originate_dial_busy",
        "busy",
        "internal",
        AMI_TEST,
        ("busy", ""),
        None,
        wait=0.0,
        talk=0.0,
        cause=16,
        scenario="dial_busy",
    ),
    # Filter: only Newchannel, Hangup(Request), OriginateResponse: Reason 4 tells the answer; no stamped event
    Expected(
        LOCAL + "ami_41_filter_legacy_regex_originate",
        "answered",
        "internal",
        AMI_TEST,
        ("sink", ""),
        None,
        wait=None,
        talk=None,
        cause=16,
    ),
    # advanced Filter: only DialBegin/DialEnd/OriginateResponse/Hangup; the calls are built from DialBegin
    Expected(
        LOCAL + "ami_42_filter_advanced_originate",
        "busy",
        "internal",
        AMI_TEST,
        ("busy", ""),
        None,
        wait=None,
        talk=None,
        cause=16,
    ),
    # user 'limited' (read=call): no dialplan events, but CEL and the call events
    Expected(
        LOCAL + "ami_61_limited_user_originate",
        "answered",
        "internal",
        AMI_TEST,
        ("sink", ""),
        "answer",
        wait=0.0,
        talk=2.5,
        cause=16,
    ),
    # the same Originate over HTTP (WaitEvent bodies): Local/answer waits 2 s
    Expected(
        LOCAL + "http_10_rawman_waitevent_during_originate",
        "answered",
        "internal",
        ("200", "HTTP Test"),
        ("sink", ""),
        "answer",
        wait=0.0,
        talk=2.0,
        cause=16,
    ),
]
