"""Scenario flows: which script fragments a call plays, and where it waits for a far end or a Hangup.

Every flow is an ``async`` function of a :class:`~ajam.sim.calls_dsl.Call`. Fragments come from the
captures (:mod:`ajam.sim.calls_local`, :mod:`ajam.sim.calls_sip`). A flow that rings until a timeout
waits with :meth:`Call.wait`, so a Hangup action can cut it short and the flow plays the matching tail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache

from ajam.sim import calls_local, calls_sip, calls_transfer
from ajam.sim.calls_dsl import Call, Line, Switchboard, parse_script
from ajam.sim.channels import Bridge, Channel

Flow = Callable[[Call], Awaitable[None]]


@cache
def fragments() -> dict[str, list[Line]]:
    found = parse_script(calls_local.SCRIPT)
    found.update(parse_script(calls_sip.SCRIPT))
    found.update(parse_script(AUTOANSWER_SINK))
    found.update(parse_script(calls_transfer.SCRIPT))
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
    """Play a fragment that ends with a channel in Wait(60), then wait until hangup (or 60 s).

    A Hangup action cuts the wait short (the Pbx tears the call down); otherwise Wait(60) ends, the
    dialplan runs out and Asterisk hangs the channels up with Normal Clearing."""
    await call.play(fragments()["autoanswer_sink"])
    if not await call.wait(60.0):
        call.hangup_cause = 16
        call.teardown()


# ---------------------------------------------------------------- transfers
PHONE_NAMES = {"101": "Иван Петров", "102": "Anna Smirnova", "103": "Олег Сидоров"}
TARGET_TALK = 5.0  # seconds the held party talks again with the transferer after a failed consultation


def transfer_target_params(context: str, exten: str, board: Switchboard) -> dict[str, str]:
    """Script parameters naming a transfer target phone (``agents``, ``_1XX``)."""
    queue = next((q.name for q in board.queues.values() if q.member(f"PJSIP/{exten}") is not None), "")
    return {
        "xfer_context": context,
        "xfer_exten": exten,
        "xfer_name": PHONE_NAMES.get(exten, exten),
        "xfer_queue": queue,
    }


def _prepare_target(call: Call) -> str:
    """The target phone's behaviour (``Pbx.set_endpoint_behaviour``), applied to this call."""
    exten = call.params.get("xfer_exten", "")
    behaviour = call.endpoints.get(exten)
    if behaviour is not None and behaviour.after is not None:
        call.answer_after[f"PJSIP/{exten}-"] = behaviour.after
    did = call.params.get("did", "")
    call.params.setdefault("userfield", f"did-{did}" if did else "")
    call.forget("Y", "K", "%y", "%k")
    return behaviour.mode if behaviour is not None else "answer"


async def dial_transfer_target(call: Call) -> None:
    """The transferee (``X``) runs Dial(PJSIP/<target>,20,t): rings, then answers, is busy or times out."""
    mode = _prepare_target(call)
    await call.play(fragments()["xfer_dial.ring"])
    outcome = {"busy": "xfer_dial.busy", "noanswer": "xfer_dial.noanswer"}.get(mode, "xfer_dial.answer")
    await call.play(fragments()[outcome])


def blind_transfer_flow(transferer: Channel, transferee: Channel, bridge: Bridge) -> Flow:
    """BlindTransfer action: the transferer leaves and hangs up, the transferee dials the target."""

    async def flow(call: Call) -> None:
        call.bind({"T": transferer, "X": transferee}, {"%t": bridge})
        await call.play(fragments()["xfer_blind.action"])
        await dial_transfer_target(call)

    return flow


def attended_transfer_flow(transferer: Channel, transferee: Channel, bridge: Bridge) -> Flow:
    """Attended transfer of ``transferee`` (held) to the phone ``p.xfer_exten`` consulted by the
    transferer; it completes once the consultation has lasted ``p.consult`` seconds. A target that is
    busy or does not answer ends the consultation: the held party is back with the transferer."""

    async def flow(call: Call) -> None:
        call.bind({"T": transferer, "X": transferee}, {"%t": bridge})
        call.params.setdefault("xfer_external", "Yes")
        mode = _prepare_target(call)
        await call.play(fragments()["atxfer.consult"])
        if mode in ("answer", "answer_after"):
            await call.play(fragments()["atxfer.answer"])
            await call.advance(float(call.params.get("consult", "4")))
            await call.play(fragments()["atxfer.complete"])
            return
        busy = mode == "busy"
        call.params.update(
            xfer_failure="BUSY" if busy else "NOANSWER",
            xfer_cause="17" if busy else "0",
            xfer_disposition="BUSY" if busy else "NO ANSWER",
        )
        await call.advance(0.5 if busy else 20.0)
        await call.play(fragments()["atxfer.target_failed"])
        await call.wait(TARGET_TALK)
        call.hangup_target, call.hangup_cause = transferer.name, 16
        call.teardown()

    return flow


async def _sip_blind_transfer(call: Call) -> None:
    """sip_10 as captured; a target (102) set busy / not answering takes the generic dial outcomes."""
    lines = fragments()["sip_blind_transfer"]
    answered = next(i for i, line in enumerate(lines) if line.kind == "Newstate" and line.refs == ("B",)
                    and any(a == "state" and v.text == "6" for _, a, v in line.updates)) + 1  # fmt: skip
    transfer = next(i for i, line in enumerate(lines) if line.kind == "BlindTransfer") + 1
    cut = next(
        i for i, line in enumerate(lines) if any(a == "new" and "/102-" in v.text for _, a, v in line.updates)
    )
    base = await call.play(lines[:answered])
    call.update("B", "media", "on")  # 101's RTP (its reports only show once its channel is gone)
    base = await call.play(lines[answered:transfer], base=base)
    # 101's SIP dialog, and its RTP, last until the REFER's final NOTIFY: the report due meanwhile is sent
    call.update("B", "media", "linger")
    behaviour = call.endpoints.get("102")
    if behaviour is None or behaviour.mode in ("answer", "answer_after"):
        notified = next(i for i, line in enumerate(lines) if line.kind == "CEL" and line.refs == ("C",)
                        and ("EventName", "ANSWER") in [(k, v.text) for k, v in line.fields]) + 1  # fmt: skip
        base = await call.play(lines[transfer:notified], base=base)  # answer_after moves the answer
        call.update("B", "media", "off")
        await call.play(lines[notified:], base=base)
        return
    await call.play(lines[transfer:cut], base=base)
    call.params.update(transfer_target_params("agents", "102", call.board))
    call.params["referred_by"] = "<sip:101@127.0.0.1:5071>"
    call.bind({"X": call.refs["A"], "T": call.refs["B"]})
    await dial_transfer_target(call)


async def _attended_transfer(call: Call) -> None:
    """An inbound call answered by 101 (sip_10 up to the REFER); after ``p.talk`` seconds 101 holds the
    caller, consults 102 and completes the transfer (REFER with Replaces: IsExternal Yes)."""
    lines = fragments()["sip_blind_transfer"]
    answered = next(i for i, line in enumerate(lines) if line.kind == "Unhold")
    await call.play(lines[:answered])
    await call.advance(float(call.params.get("talk", "4")))
    caller, agent = call.refs["A"], call.refs["B"]
    call.params.update(transfer_target_params("agents", "102", call.board))
    await attended_transfer_flow(agent, caller, call.board.bridges[agent.bridge])(call)


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
    "sip_blind_transfer": _sip_blind_transfer,
    "sip_originate_agent_busy": play("sip_originate_agent_busy"),
    "sip_outbound_busy": play("sip_outbound_busy"),
    "attended_transfer": _attended_transfer,
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
    if _name.startswith("sip_") or _name == "attended_transfer":
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
