"""The call engine driven through its actions, without sockets."""

from __future__ import annotations

import asyncio

from ajam.protocol.message import Message
from ajam.sim.channels import Headers
from ajam.sim.pbx import Pbx
from tests.sim.structure import structure
from tests.support.transcripts import SHARED, load, require_shared


def action(**headers: str) -> Message:
    return Message(list(headers.items()))


async def until(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.001)


def names(events: list[Headers]) -> list[str]:
    return [h[0][1] for h in events]


def capture_list(path: str, complete: str) -> list[Headers]:
    """The CoreShowChannel list events of a capture, ActionID removed (the dispatcher adds it)."""
    from ajam.protocol.stream import parse_messages

    out: list[Headers] = []
    for chunk in load(SHARED / path).of_kind("S>C"):
        data = chunk.data.split(b"\r\n\r\n", 1)[1] if chunk.data.startswith(b"HTTP/") else chunk.data
        if b"CoreShowChannel" not in data or b"ListItems: 0" in data:
            continue
        for message in parse_messages(data):
            if message.headers[0][0] == "Event" and message.headers[0][1] in ("CoreShowChannel", complete):
                out.append([kv for kv in message.headers if kv[0] != "ActionID"])
    return out


async def test_coreshowchannels_mid_call_has_the_structure_of_ami_07_and_http_05b() -> None:
    require_shared()
    pbx = Pbx(seed=3, speed=20)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    reply = await pbx.handle(
        "Originate",
        action(
            Channel="Local/autoanswer@test",
            Context="test",
            Exten="sink",
            Priority="1",
            Async="true",
            CallerID='"AMI Test" <100>',
        ),
        "orig-1",
    )
    assert reply.response == [("Response", "Success"), ("Message", "Originate successfully queued")]
    await asyncio.sleep(1.5 / 20)
    listing = await pbx.handle("CoreShowChannels", action(), "csc")
    assert listing.response[:2] == [("Response", "Success"), ("EventList", "start")]
    got = listing.list_events
    want = capture_list("transcripts/ami_07_coreshowchannels_active.txt", "CoreShowChannelsComplete")
    strip = ("Duration",)
    assert structure([[kv for kv in h if kv[0] not in strip] for h in got]) == structure(
        [[kv for kv in h if kv[0] not in strip] for h in want]
    )
    http = capture_list("transcripts/http_05b_rawman_coreshowchannels_active.txt", "CoreShowChannelsComplete")
    assert sorted(dict(h).get("Exten", "") for h in got) == sorted(dict(h).get("Exten", "") for h in http)
    caller = dict(got[0])["Channel"]
    hangup = await pbx.handle("Hangup", action(Channel=caller), "hup")
    assert hangup.response == [("Response", "Success"), ("Message", "Channel Hungup")]
    await until(lambda: not pbx.board.channels)
    after = await pbx.handle("CoreShowChannels", action(), "csc2")
    assert after.list_events == [
        [("Event", "CoreShowChannelsComplete"), ("EventList", "Complete"), ("ListItems", "0")]
    ]
    assert names(events)[-1] == "Hangup" or "Hangup" in names(events)
    await pbx.aclose()


async def test_originate_async_answered_sends_originate_response_with_action_id() -> None:
    pbx = Pbx(seed=1, speed=1000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.handle(
        "Originate", action(Channel="Local/answer@test", Context="test", Exten="sink", Async="true"), "o1"
    )
    await until(lambda: "Hangup" in names(events) and not pbx.board.channels)
    response = next(dict(h) for h in events if h[0][1] == "OriginateResponse")
    assert (response["ActionID"], response["Response"], response["Reason"]) == ("o1", "Success", "4")
    await pbx.aclose()


async def test_originate_busy_gives_reason_5_and_timeout_reason_3() -> None:
    pbx = Pbx(seed=1, speed=1000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.handle("Originate", action(Channel="Local/busy@test", Context="test", Exten="sink"), "b")
    await pbx.handle(
        "Originate", action(Channel="Local/noanswer@test", Context="test", Exten="sink", Timeout="5000"), "t"
    )
    await until(
        lambda: sum(1 for h in events if h[0][1] == "OriginateResponse") == 2 and not pbx.board.channels
    )
    reasons = {dict(h)["ActionID"]: dict(h)["Reason"] for h in events if h[0][1] == "OriginateResponse"}
    assert reasons == {"b": "5", "t": "3"}
    await pbx.aclose()


async def test_hangup_of_ringing_originate_gives_reason_0() -> None:
    pbx = Pbx(seed=1, speed=100)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.handle("Originate", action(Channel="Local/noanswer@test", Context="test", Exten="sink"), "r")
    await until(lambda: "DialState" in names(events))
    reply = await pbx.handle("Hangup", action(Channel="/^Local\\/noanswer@test-.*;1$/"), None)
    assert reply.response[0] == ("Response", "Success")
    await until(lambda: "OriginateResponse" in names(events) and not pbx.board.channels)
    response = next(dict(h) for h in events if h[0][1] == "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Failure", "0")
    await pbx.aclose()


async def test_originate_to_missing_extension_is_an_error_without_events() -> None:
    pbx = Pbx()
    events: list[Headers] = []
    pbx.subscribe(events.append)
    for headers in (
        action(Channel="Local/answer@test", Context="test", Exten="nosuchexten", Priority="1"),
        action(Channel="Local/answer@test", Application="Wait", Data="1", Priority="1"),
    ):
        reply = await pbx.handle("Originate", headers, "x")
        assert reply.response == [("Response", "Error"), ("Message", "Extension does not exist.")]
    await asyncio.sleep(0.01)
    assert events == []
    await pbx.aclose()


async def test_idle_lists_match_ami_12() -> None:
    pbx = Pbx()
    status = await pbx.handle("Status", action(), None)
    assert status.list_events == [
        [("Event", "StatusComplete"), ("EventList", "Complete"), ("ListItems", "0"), ("Items", "0")]
    ]
    queues = await pbx.handle("QueueStatus", action(Queue="testq"), None)
    assert [h[0][1] for h in queues.list_events] == ["QueueParams", "QueueMember", "QueueStatusComplete"]
    assert ("Strategy", "ringall") in queues.list_events[0] and ("Name", "Agent One") in queues.list_events[1]
    summary = await pbx.handle("QueueSummary", action(Queue="testq"), None)
    assert ("Available", "1") in summary.list_events[0]
    await pbx.aclose()


async def test_queue_state_follows_a_live_queue_call() -> None:
    pbx = Pbx(speed=50)
    task = asyncio.create_task(pbx.run_scenario("sip_queue_answered"))
    await until(lambda: pbx.board.queues["support"].callers)
    summary = await pbx.handle("QueueSummary", action(Queue="support"), None)
    assert ("Callers", "1") in summary.list_events[0]
    await task
    status = await pbx.handle("QueueStatus", action(Queue="support"), None)
    params = dict(status.list_events[0])
    assert (params["Calls"], params["Completed"]) == ("0", "1")
    await pbx.aclose()


async def test_setvar_getvar_messagesend() -> None:
    pbx = Pbx()
    assert (await pbx.handle("Setvar", action(Variable="FOO", Value="bar"), None)).response[0] == (
        "Response",
        "Success",
    )
    assert (await pbx.handle("Getvar", action(Variable="FOO"), None)).response[-1] == ("Value", "bar")
    ok = await pbx.handle("MessageSend", action(To="pjsip:101", Body="hi"), None)
    assert ok.response[0] == ("Response", "Success")
    bad = await pbx.handle("MessageSend", action(To="xmpp:101", Body="hi"), None)
    assert bad.response == [("Response", "Error"), ("Message", "Message technology not found.")]
    await pbx.aclose()


async def test_restart_loses_calls_silently_and_keep_calls_keeps_them() -> None:
    pbx = Pbx(speed=20)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    task = asyncio.create_task(pbx.run_scenario("sip_inbound_answered_recorded"))
    await until(lambda: pbx.board.channels)
    pbx.stop(keep_calls=True)
    assert pbx.board.channels
    pbx.restart(keep_calls=False)
    await asyncio.gather(task, return_exceptions=True)
    assert not pbx.board.channels and "Hangup" not in names(events)
    assert pbx.uptime() <= 1
    await pbx.aclose()


async def test_traffic_runs_overlapping_calls_with_distinct_callers() -> None:
    pbx = Pbx(seed=7, speed=1000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    pbx.start_traffic(calls_per_minute=600)
    await until(lambda: pbx.traffic.started >= 8)
    await pbx.stop_traffic()
    callers = {dict(h)["CallerIDNum"] for h in events if h[0][1] == "Newchannel"}
    assert len(callers) >= 5
    await pbx.aclose()


async def test_boot_device_states_follow_the_configured_queues() -> None:
    local = await Pbx(dialplan="local").handle("devicestatelist", action(), None)
    assert [dict(h).get("Device") for h in local.list_events[:-1]] == [
        "Queue:testq_avail",
        "Queue:testq_pause_Local/agent@queue-members",
    ]
    assert [dict(h)["State"] for h in local.list_events[:-1]] == ["INUSE", "NOT_INUSE"]
    both = await Pbx().handle("devicestatelist", action(), None)
    assert "Queue:support_pause_PJSIP/103" in {dict(h).get("Device") for h in both.list_events}


async def test_dialplan_switch_limits_extensions_and_endpoints() -> None:
    local = Pbx(dialplan="local")
    assert not local.extension_exists("from-carrier", "74951230001")
    assert local.extension_exists("test", "answer")
    reply = await local.handle("pjsipshowendpoints", action(), None)
    assert reply.list_events[-1][-1] == ("ListItems", "0")
    assert Pbx(dialplan="sip").extension_exists("agents", "84951112233")


async def test_autoanswer_sink_hangs_up_when_its_wait_runs_out() -> None:
    pbx = Pbx(speed=10_000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.handle(
        "originate",
        action(Channel="Local/autoanswer@test", Context="test", Exten="sink", Priority="1", Async="true"),
        "o1",
    )
    await until(lambda: "Newchannel" in names(events))
    await until(lambda: not pbx.board.channels)  # Wait(60) of virtual time, then the dialplan ends
    hangups = [dict(h) for h in events if h[0][1] == "Hangup"]
    assert len(hangups) == 2 and {h["Cause"] for h in hangups} == {"16"}
    await pbx.aclose()


async def test_endpoint_behaviour_busy_makes_originate_fail_like_sip_11() -> None:
    pbx = Pbx(speed=10_000)
    pbx.set_endpoint_behaviour("101", "busy")
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.handle(
        "originate", action(Channel="PJSIP/101", Context="agents", Exten="84951112233", Priority="1"), "o1"
    )
    await until(lambda: "OriginateResponse" in names(events))
    response = dict(next(h for h in events if h[0][1] == "OriginateResponse"))
    assert (response["Response"], response["Reason"], response["Channel"]) == ("Failure", "0", "PJSIP/101")
    await pbx.aclose()


async def test_answer_after_stretches_the_ringing() -> None:
    pbx = Pbx(speed=10_000)
    pbx.set_endpoint_behaviour("101", "answer_after", after=8.0)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.run_scenario("sip_inbound_noanswer")  # the behaviour picks the answered flow
    cdr = dict(next(h for h in events if h[0][1] == "Cdr"))
    assert cdr["Disposition"] == "ANSWERED"
    assert int(cdr["Duration"]) - int(cdr["BillableSeconds"]) == 8
    await pbx.aclose()


def test_endpoint_behaviour_is_validated() -> None:
    pbx = Pbx()
    for args in (("101", "sometimes"), ("999", "busy"), ("carrier", "noanswer"), ("101", "answer_after")):
        try:
            pbx.set_endpoint_behaviour(*args)
        except ValueError:
            continue
        raise AssertionError(f"accepted {args}")


# ---------------------------------------------------------------- transfers
RUNNING: set[asyncio.Task[None]] = set()


async def _answered_inbound(pbx: Pbx) -> tuple[list[Headers], str]:
    """An inbound call to 101 (sip_01) once 101 and the caller are bridged (the call runs on)."""
    events: list[Headers] = []
    pbx.subscribe(events.append)
    task = asyncio.create_task(pbx.run_scenario("sip_inbound_answered_recorded"))
    RUNNING.add(task)
    task.add_done_callback(RUNNING.discard)
    await until(lambda: sum(1 for h in events if h[0] == ("Event", "BridgeEnter")) == 2)
    agent = next(name for name in pbx.board.channels if name.startswith("PJSIP/101-"))
    return events, agent


async def test_blind_transfer_action_carries_the_call_on_to_the_target() -> None:
    pbx = Pbx(seed=3, speed=200)
    events, agent = await _answered_inbound(pbx)
    reply = await pbx.handle("blindtransfer", action(Channel=agent, Exten="102", Context="agents"), "x")
    assert reply.response == [("Response", "Success"), ("Message", "Transfer succeeded")]
    await until(lambda: not pbx.board.channels, timeout=10)
    after = [dict(h) for h in events[next(i for i, h in enumerate(events) if h[0][1] == "BlindTransfer") :]]
    transfer = after[0]
    assert transfer["TransfererChannel"] == agent and transfer["TransfereeChannel"].startswith(
        "PJSIP/carrier-"
    )
    assert (transfer["Context"], transfer["Extension"], transfer["IsExternal"]) == ("agents", "102", "Yes")
    kinds = [(e["Event"], e.get("Channel", e.get("DestChannel", ""))[:9]) for e in after if e["Event"] in
             ("Hangup", "DialBegin", "DialEnd", "BridgeEnter")]  # fmt: skip
    assert kinds == [("Hangup", "PJSIP/101"), ("DialBegin", "PJSIP/car"), ("DialEnd", "PJSIP/car"),
                     ("BridgeEnter", "PJSIP/102"), ("BridgeEnter", "PJSIP/car"), ("Hangup", "PJSIP/car"),
                     ("Hangup", "PJSIP/102")]  # fmt: skip
    assert next(e for e in after if e["Event"] == "Hangup")["Cause"] == "16"
    dial = next(e for e in after if e["Event"] == "DialBegin")
    assert dial["DestChannel"].startswith("PJSIP/102-") and dial["DestLinkedid"] == dial["Linkedid"]
    await pbx.aclose()


async def test_blind_transfer_to_a_busy_target_ends_the_call_with_dialstatus_busy() -> None:
    pbx = Pbx(seed=3, speed=200)
    pbx.set_endpoint_behaviour("103", "busy")
    events, agent = await _answered_inbound(pbx)
    await pbx.handle("blindtransfer", action(Channel=agent, Exten="103"), None)
    await until(lambda: not pbx.board.channels, timeout=10)
    ends = [dict(h) for h in events if h[0] == ("Event", "DialEnd")]
    assert ends[-1]["DestChannel"].startswith("PJSIP/103-") and ends[-1]["DialStatus"] == "BUSY"
    await pbx.aclose()


async def test_transfer_errors() -> None:
    pbx = Pbx(seed=3)
    assert (await pbx.handle("blindtransfer", action(Channel="PJSIP/101-0", Exten="102"), None)).response[1] == (
        "Message", "Channel specified does not exist")  # fmt: skip
    assert (await pbx.handle("atxfer", action(Exten="102"), None)).response[1] == (
        "Message",
        "No channel specified",
    )
    await pbx.aclose()


async def test_atxfer_action_consults_then_completes_the_attended_transfer() -> None:
    pbx = Pbx(seed=3, speed=200)
    events, agent = await _answered_inbound(pbx)
    reply = await pbx.handle("atxfer", action(Channel=agent, Exten="102", Context="agents"), None)
    assert reply.response == [("Response", "Success"), ("Message", "Atxfer successfully queued")]
    await until(lambda: not pbx.board.channels, timeout=10)
    kinds = names(events)
    assert kinds.index("Hold") < kinds.index("AttendedTransfer") and "MusicOnHoldStop" in kinds
    transfer = dict(next(h for h in events if h[0] == ("Event", "AttendedTransfer")))
    assert transfer["OrigTransfererChannel"] == agent and transfer["IsExternal"] == "No"
    assert transfer["TransferTargetChannel"].startswith("PJSIP/102-")
    await pbx.aclose()


async def test_tracker_sees_one_call_answered_by_101_then_transferred_to_102() -> None:
    from ajam.calls.tracker import CallTracker
    from ajam.protocol.message import Event

    pbx = Pbx(seed=1, speed=10_000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.run_scenario("attended_transfer")
    await pbx.aclose()
    tracker = CallTracker()
    ended = [u.call for h in events for u in tracker.feed(Event(h)) if u.kind == "ended"]
    customer = next(call for call in ended if call.caller.number == "79161234567")
    assert (
        customer.answered_by == "101"
        and customer.outcome is not None
        and customer.outcome.value == "answered"
    )
    assert [(t.kind, t.transferer, t.transferee, t.target) for t in customer.transfers] == [
        ("attended", "101", "79161234567", "102")
    ]
    assert not tracker.live_calls()
