"""Scenario flows: which script fragments a call plays, and where it waits for a far end or a Hangup.

Every flow is an ``async`` function of a :class:`~ajam.sim.calls_dsl.Call`. Fragments come from the
captures (:mod:`ajam.sim.calls_local`, :mod:`ajam.sim.calls_sip`). A flow that rings until a timeout
waits with :meth:`Call.wait`, so a Hangup action can cut it short and the flow plays the matching tail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache

from ajam.sim import calls_local, calls_sip
from ajam.sim.calls_dsl import Call, Line, parse_script

Flow = Callable[[Call], Awaitable[None]]


@cache
def fragments() -> dict[str, list[Line]]:
    found = parse_script(calls_local.SCRIPT)
    found.update(parse_script(calls_sip.SCRIPT))
    found.update(parse_script(AUTOANSWER_SINK))
    return found


# Originate Local/autoanswer@test -> test,sink (ami_07, http_05b ran with events off, so no capture shows
# the events): declared from the answered-originate capture (ami_20) with the autoanswer extension's
# dialplan (NoOp "autoanswer caller leg", Answer, Wait(60)); the flow then stays up until a Hangup.
AUTOANSWER_SINK = r"""
== autoanswer_sink
0.000	CEL	A	new=Local/autoanswer@test-${L1};1	EventName=CHAN_START	Exten=autoanswer	Context=test
0.000	CEL	B	new=Local/autoanswer@test-${L1};2	link=A	EventName=CHAN_START	Exten=autoanswer	Context=test
0.000	CEL	B	EventName=ANSWER	CallerIDnum=${p.cid_num}	CallerIDname=${p.cid_name}	Exten=autoanswer	Context=test	Application=Answer
0.001	Newchannel	A	context=test	exten=autoanswer
0.001	Newchannel	B	state=4	context=test	exten=autoanswer
0.001	Newexten	A	app=AppDial2	appdata=(Outgoing Line)
0.001	NewCallerid	A	cid_num=${p.cid_num}	cid_name=${p.cid_name}
0.001	OriginateResponse	_	ActionID=${action_id}	Response=Success	Channel=${A.name}	Context=test	Exten=sink	Reason=4	Uniqueid=${A.uid}	CallerIDNum=${p.cid_num}	CallerIDName=${p.cid_name}
0.001	NewConnectedLine	A	conn_num=${p.cid_num}	conn_name=${p.cid_name}
0.001	NewCallerid	B	cid_num=${p.cid_num}	cid_name=${p.cid_name}	conn_num=${p.cid_num}	conn_name=${p.cid_name}
0.001	NewConnectedLine	B
0.001	LocalBridge	A,B	Context=test	Exten=autoanswer
0.001	DialBegin	-,A	DialString=autoanswer@test
0.001	Newexten	B	app=NoOp	appdata=autoanswer caller leg
0.001	Newexten	B	priority=2	app=Answer	appdata=
0.001	Newstate	B	state=6
0.001	Newstate	A	state=6
0.001	DeviceStateChange	_	Device=Local/autoanswer@test	State=INUSE
0.001	DialEnd	-,A	DialStatus=ANSWER
0.001	Newexten	A	exten=sink	app=NoOp	appdata=sink
0.001	CEL	A	EventName=ANSWER	CallerIDani=${p.cid_num}	Exten=autoanswer	Application=AppDial2	AppData=(Outgoing Line)
0.001	Newexten	A	priority=2	app=Answer	appdata=
0.001	DeviceStateChange	_	Device=Local/autoanswer@test	State=INUSE
0.001	Newexten	A	priority=3	app=Wait	appdata=60
0.501	Newexten	B	priority=3	app=Wait	appdata=60
"""


def play(name: str) -> Flow:
    async def flow(call: Call) -> None:
        await call.play(fragments()[name])

    return flow


def ring_then(first: str, timeout_tail: str | None, hangup_tail: str, scripted_hangup: float | None) -> Flow:
    """Ring (``first``) until the timeout (``call.params['timeout']`` seconds) or a Hangup action.

    ``scripted_hangup`` replays the capture's own Hangup action after that many seconds of ringing.
    """

    async def flow(call: Call) -> None:
        await call.play(fragments()[first + ".1"], interruptible=False)
        if scripted_hangup is not None:
            await call.advance(scripted_hangup)
            interrupted = True
        else:
            interrupted = await call.wait(float(call.params.get("timeout", "30")))
        if interrupted or timeout_tail is None:
            call.hangup_requested.clear()  # this flow answers the request with the captured tail
            await call.play(fragments()[hangup_tail])
        else:
            await call.play(fragments()[timeout_tail])

    return flow


async def _stay_up(call: Call) -> None:
    """Play a fragment that ends with a channel in Wait(60), then wait until hangup (or 60 s)."""
    await call.play(fragments()["autoanswer_sink"])
    await call.wait(60.0)


FLOWS: dict[str, Flow] = {
    "originate_answered": play("originate_answered"),
    "originate_busy": play("originate_busy"),
    "originate_noanswer": ring_then(
        "originate_noanswer", "originate_noanswer.2", "originate_cancel_while_ringing.2", None
    ),
    "dial_noanswer": play("dial_noanswer"),
    "dial_caller_cancel": ring_then("dial_caller_cancel", None, "dial_caller_cancel.2", 2.0),
    "originate_cancel_while_ringing": ring_then(
        "originate_cancel_while_ringing", None, "originate_cancel_while_ringing.2", 2.0
    ),
    "mixmonitor": play("mixmonitor"),
    "mixmonitor_stop": play("mixmonitor_stop"),
    "queue_local": play("queue_local"),
    "dial_answer": play("dial_answer"),
    "dial_busy": play("dial_busy"),
    "originate_application": play("originate_application"),
    "autoanswer_sink": _stay_up,
    "sip_inbound_answered_recorded": play("sip_inbound_answered_recorded"),
    "sip_inbound_busy": play("sip_inbound_busy"),
    "sip_inbound_noanswer": play("sip_inbound_noanswer"),
    "sip_inbound_caller_cancel": play("sip_inbound_caller_cancel"),
    "sip_ringgroup": play("sip_ringgroup"),
    "sip_queue_answered": play("sip_queue_answered"),
    "sip_queue_abandoned": play("sip_queue_abandoned"),
    "sip_internal": play("sip_internal"),
    "sip_click_to_call": play("sip_click_to_call"),
    "sip_blind_transfer": play("sip_blind_transfer"),
    "sip_originate_agent_busy": play("sip_originate_agent_busy"),
    "sip_outbound_busy": play("sip_outbound_busy"),
}

# live Originate flows that wait for the Originate Timeout / a Hangup action instead of a scripted one
LIVE_FLOWS: dict[str, Flow] = {
    **FLOWS,
    "dial_caller_cancel": ring_then("dial_caller_cancel", None, "dial_caller_cancel.2", None),
    "originate_cancel_while_ringing": FLOWS["originate_noanswer"],
}

# the capture each scenario was converted from (tests compare against it); parameters used there
SCENARIO_PARAMS: dict[str, dict[str, str]] = {}
_LOCAL = {"cid_num": "100", "cid_name": "AMI Test"}
_INBOUND = {"caller_num": "79161234567", "caller_name": "Мария Иванова", "did": "74951230001"}
_CLICK = {
    "cid_num": "84951112233",
    "cid_name": "Звонок клиенту",
    "dial": "84951112233",
    "number": "4951112233",
}
for _name in FLOWS:
    if _name.startswith("sip_"):
        params = dict(_INBOUND)
        if _name == "sip_ringgroup":
            params["did"] = "74951230002"
        elif _name.startswith("sip_queue"):
            params["did"] = "74951230003"
        elif _name in ("sip_click_to_call", "sip_originate_agent_busy", "sip_outbound_busy"):
            params = dict(_CLICK)
        elif _name == "sip_internal":
            params = {}
        SCENARIO_PARAMS[_name] = params
    else:
        SCENARIO_PARAMS[_name] = dict(_LOCAL, timeout="5")

SCENARIOS: tuple[str, ...] = (*tuple(name for name in FLOWS if name != "autoanswer_sink"),)
