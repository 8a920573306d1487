"""The tracker's rules one by one: times, updates, attaching mid-call, resync, originate results, odd input."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ajam.calls.model import Direction, Outcome
from ajam.calls.replay import iter_events, replay_events
from ajam.calls.tracker import CallTracker, CallUpdate, TrackerConfig
from ajam.protocol.message import Event
from tests.calls.expectations import EXPECTED
from tests.support.ami_stream import server_stream
from tests.support.transcripts import SHARED, require_shared


@cache
def capture_events(name: str) -> tuple[Event, ...]:
    path = require_shared() / f"{name}.txt"
    return tuple(iter_events([server_stream(path)]))


def event(name: str, **headers: str) -> Event:
    return Event([("Event", name), *((key.replace("_", "-"), value) for key, value in headers.items())])


def feed_all(tracker: CallTracker, events: list[Event] | tuple[Event, ...]) -> list[CallUpdate]:
    updates: list[CallUpdate] = []
    for item in events:
        updates.extend(tracker.feed(item))
    return updates


def channel(uid: str, name: str, linked: str, state: str = "Up", **more: str) -> dict[str, str]:
    return {"Channel": name, "Uniqueid": uid, "Linkedid": linked, "ChannelStateDesc": state, **more}


# ---------------------------------------------------------------- times


def simple_call(stamp: dict[str, dict[str, str]]) -> list[Event]:
    """101 calls 102: Newchannel, DialBegin, DialEnd ANSWER, two Hangups; ``stamp`` adds time headers."""
    a = channel(
        "a",
        "PJSIP/101-00000001",
        "a",
        "Ring",
        CallerIDNum="101",
        CallerIDName="Иван Петров",
        Context="agents",
        Exten="102",
    )
    b = channel(
        "b",
        "PJSIP/102-00000002",
        "a",
        "Down",
        CallerIDNum="102",
        CallerIDName="Anna Smirnova",
        Context="agents",
        Exten="s",
    )
    dest = {"DestUniqueid": "b", "DestChannel": "PJSIP/102-00000002"}
    return [
        event("Newchannel", **a, **stamp.get("start", {})),
        event("Newchannel", **b, **stamp.get("start", {})),
        event("DialBegin", **a, **dest, DialString="102", **stamp.get("ring", {})),
        event("DialEnd", **a, **dest, DialStatus="ANSWER", **stamp.get("answer", {})),
        event("Hangup", **b, Cause="16", **stamp.get("end", {})),
        event("Hangup", **a, Cause="16", **stamp.get("end", {})),
    ]


def test_timestamp_header_gives_sub_second_durations() -> None:
    stamps = {
        "start": {"Timestamp": "1795740570.500000"},
        "ring": {"Timestamp": "1795740570.750000"},
        "answer": {"Timestamp": "1795740573.250000"},
        "end": {"Timestamp": "1795740579.750000"},
    }
    updates = feed_all(CallTracker(), simple_call(stamps))
    call = updates[-1].call
    assert updates[-1].kind == "ended" and call.outcome is Outcome.ANSWERED
    assert call.started_at == 1795740570.5 and call.ringing_at == 1795740570.75
    assert call.wait_seconds == 2.75 and call.talk_seconds == 6.5
    assert call.direction is Direction.INTERNAL and call.answered_by == "102"


def test_received_at_is_the_last_resort_and_extrapolates_from_the_last_stamp() -> None:
    tracker = CallTracker()
    events = simple_call({})  # Uniqueids "a"/"b" carry no epoch: nothing is stamped
    arrivals = [100.0, 100.0, 100.5, 103.0, 110.0, 110.0]
    updates = [u for item, at in zip(events, arrivals, strict=True) for u in tracker.feed(item, at)]
    call = updates[-1].call
    assert (call.started_at, call.answered_at, call.ended_at) == (100.0, 103.0, 110.0)


def test_cel_dates_are_read_in_the_pbx_time_zone() -> None:
    """CEL EventTime carries no offset: 03:49:33 in Moscow is 00:49:33 UTC."""
    cel = {"start": {}, "answer": {}, "end": {}}
    events = simple_call(cel)
    moscow = TrackerConfig(pbx_timezone="Europe/Moscow")
    stamped = [
        events[0],
        event("CEL", EventName="CHAN_START", EventTime="2026-11-27 03:49:30", UniqueID="a"),
        *events[1:3],
        event("CEL", EventName="ANSWER", EventTime="2026-11-27 03:49:33", UniqueID="b"),
        events[3],
        event("CEL", EventName="HANGUP", EventTime="2026-11-27 03:49:39.500000", UniqueID="b"),
        *events[4:],
    ]
    call = feed_all(CallTracker(moscow), stamped)[-1].call
    assert call.answered_at == 1795740573.0  # 2026-11-27 00:49:33 UTC
    assert call.ended_at == 1795740579.5
    utc = feed_all(CallTracker(), stamped)[-1].call
    assert utc.answered_at == 1795740573.0 + 3 * 3600


def test_epoch_event_times_and_event_tv_are_understood() -> None:
    events = simple_call({})
    stamped = [
        event("CEL", EventName="CHAN_START", EventTime="1795740570.250000"),
        *events[:3],
        event("CEL", EventName="ANSWER", EventTV="2026-11-27T00:49:33.750+0000"),
        *events[3:],
    ]
    call = feed_all(CallTracker(), stamped)[-1].call
    assert call.started_at == 1795740570.25
    assert call.answered_at == 1795740573.75


def test_the_clock_never_runs_backwards() -> None:
    events = simple_call({"start": {"Timestamp": "200.0"}, "answer": {"Timestamp": "150.0"}})
    call = feed_all(CallTracker(), events)[-1].call
    assert call.answered_at == 200.0 and call.wait_seconds == 0.0


def test_uniqueid_epoch_times_a_call_without_any_stamped_event() -> None:
    """ami_41 (Filter: Newchannel, Hangup, OriginateResponse): the Uniqueid tells when the call started."""
    result, _ = replay_events(capture_events("transcripts/ami_41_filter_legacy_regex_originate"))
    call = result.finished[0]
    assert call.id == "1795739078.36" and call.started_at == 1795739078.0


# ---------------------------------------------------------------- updates


def test_ring_group_announces_ringing_per_extension_then_who_answered() -> None:
    updates = feed_all(CallTracker(), capture_events("transcripts-sip/sip_05_ringgroup_answered_by_102"))
    told = [(u.kind, u.extension) for u in updates if u.kind != "updated"]
    assert told == [("ringing", "101"), ("ringing", "102"), ("answered", "102"), ("ended", None)]
    ringing = [u.call for u in updates if u.kind == "ringing"]
    assert ringing[0].caller.name == "Мария Иванова" and ringing[0].caller.number == "79161234567"


def test_live_call_is_visible_while_it_rings() -> None:
    tracker = CallTracker()
    events = capture_events("transcripts-sip/sip_03_inbound_noanswer")
    cut = next(i for i, item in enumerate(events) if item.name == "DialState")
    feed_all(tracker, events[: cut + 1])
    (live,) = tracker.live_calls()
    assert live.live and live.rang == ["101"] and live.ringing_at is not None
    assert tracker.get(live.id) is live and tracker.get("nope") is None
    feed_all(tracker, events[cut + 1 :])
    assert tracker.live_calls() == [] and live.outcome is Outcome.NO_ANSWER


def test_originate_results_are_kept_by_action_id() -> None:
    tracker = CallTracker()
    feed_all(tracker, capture_events("transcripts-sip/sip_09_originate_click_to_call_outbound"))
    result = tracker.originate_result("orig-1")
    assert result is not None and result.success and result.reason == "4"
    assert result.call_id == "1795740670.21" and result.uniqueid == "1795740670.21"
    busy = CallTracker()
    feed_all(busy, capture_events("transcripts-sip/sip_11_originate_agent_busy"))
    failed = busy.originate_result("orig-1")
    assert failed is not None and not failed.success and failed.reason == "0"
    assert failed.uniqueid is None and failed.call_id == "1795740726.26"  # found by the channel PJSIP/101
    assert busy.originate_result("other") is None


def test_only_the_newest_originate_results_are_kept() -> None:
    tracker = CallTracker(TrackerConfig(originate_results=2))
    for number in range(3):
        tracker.feed(
            event(
                "OriginateResponse",
                ActionID=f"o{number}",
                Response="Failure",
                Reason="0",
                Channel="PJSIP/9",
                Uniqueid="<unknown>",
            )
        )
    assert tracker.originate_result("o0") is None
    assert tracker.originate_result("o2") is not None


# ---------------------------------------------------------------- direction and config


def test_direction_follows_the_configuration() -> None:
    events = capture_events("transcripts-sip/sip_01_inbound_answered_recorded")
    assert feed_all(CallTracker(), events)[-1].call.direction is Direction.INBOUND
    config = TrackerConfig(inbound_contexts=(), trunk_channels=r"^SIP/nothing")
    as_internal = feed_all(CallTracker(config), events)[-1].call
    assert as_internal.direction is Direction.OUTBOUND  # 101 reached from an external-looking number's DID
    internal = feed_all(CallTracker(), capture_events("transcripts-sip/sip_08_internal_101_to_102"))[-1].call
    assert internal.direction is Direction.INTERNAL


def test_relative_mixmonitor_names_land_in_the_recording_dir() -> None:
    config = TrackerConfig(recording_dir="/rec")
    events = simple_call({})
    with_recording = [
        *events[:1],
        event(
            "Newexten",
            **channel("a", "PJSIP/101-00000001", "a"),
            Application="MixMonitor",
            AppData="call-a.wav,b",
        ),
        *events[1:],
    ]
    assert feed_all(CallTracker(config), with_recording)[-1].call.recording == "/rec/call-a.wav"


def test_mixmonitor_without_a_file_name_uses_the_uniqueid_convention() -> None:
    events = simple_call({})
    started = [*events[:1], event("MixMonitorStart", **channel("a", "PJSIP/101-00000001", "a")), *events[1:]]
    assert feed_all(CallTracker(), started)[-1].call.recording == "/var/spool/asterisk/monitor/a.wav"


# ---------------------------------------------------------------- queues and transfers


def test_agent_ring_no_answer_is_recorded_per_extension() -> None:
    events = list(capture_events("transcripts-sip/sip_06_queue_answered_by_103"))
    called = next(
        item for item in events if item.name == "AgentCalled" and item.get("Interface") == "PJSIP/102"
    )
    no_answer = Event([(k, v) for k, v in called.headers if k != "Event"])
    events.insert(events.index(called) + 2, Event([("Event", "AgentRingNoAnswer"), *no_answer.headers]))
    call = feed_all(CallTracker(), events)[-1].call
    assert call.outcome is Outcome.ANSWERED and call.answered_by == "103"
    assert call.extension_outcomes["102"] in (Outcome.NO_ANSWER, Outcome.ANSWERED_ELSEWHERE)


def test_attended_transfer_moves_the_target_into_the_transferred_call() -> None:
    carrier = channel(
        "c",
        "PJSIP/carrier-00000001",
        "c",
        "Ring",
        CallerIDNum="79161234567",
        Context="from-carrier",
        Exten="74951230001",
    )
    agent = channel("d", "PJSIP/101-00000002", "c", "Down", CallerIDNum="101", Context="agents", Exten="s")
    consult = channel(
        "e", "PJSIP/101-00000003", "e", "Ring", CallerIDNum="101", Context="agents", Exten="102"
    )
    target = channel("f", "PJSIP/102-00000004", "e", "Down", CallerIDNum="102", Context="agents", Exten="s")
    tracker = CallTracker()
    events = [
        event("Newchannel", **carrier),
        event("Newchannel", **agent),
        event("DialBegin", **carrier, DestUniqueid="d", DestChannel="PJSIP/101-00000002", DialString="101"),
        event("DialEnd", **carrier, DestUniqueid="d", DestChannel="PJSIP/101-00000002", DialStatus="ANSWER"),
        event("Newchannel", **consult),
        event("Newchannel", **target),
        event("DialBegin", **consult, DestUniqueid="f", DestChannel="PJSIP/102-00000004", DialString="102"),
        event("DialEnd", **consult, DestUniqueid="f", DestChannel="PJSIP/102-00000004", DialStatus="ANSWER"),
        event(
            "AttendedTransfer",
            Result="Success",
            OrigTransfererUniqueid="d",
            SecondTransfererUniqueid="e",
            TransfereeUniqueid="c",
            TransfereeCallerIDNum="79161234567",
            TransferTargetUniqueid="f",
        ),
        event("Hangup", **agent, Cause="16"),
        event("Hangup", **consult, Cause="16"),
    ]
    updates = feed_all(tracker, events)
    consultation = [u.call for u in updates if u.kind == "ended"]
    assert [call.id for call in consultation] == ["e"]  # the consultation call ended, the customer's goes on
    (live,) = tracker.live_calls()
    assert [(t.kind, t.transferer, t.transferee, t.target) for t in live.transfers] == [
        ("attended", "101", "79161234567", "102")
    ]
    ended = feed_all(tracker, [event("Hangup", **target, Cause="16"), event("Hangup", **carrier, Cause="16")])
    assert ended[-1].call is live and live.outcome is Outcome.ANSWERED and live.answered_by == "101"


# ---------------------------------------------------------------- attaching mid-call, resync


def listing_at(events: tuple[Event, ...], cut: int) -> list[Event]:
    """The CoreShowChannel list Asterisk would give at ``cut``: every channel created and not hung up,
    with the state its latest event showed (what the PBX itself knows about it)."""
    latest: dict[str, Event] = {}
    for item in events[:cut]:
        uid = item.get("Uniqueid")
        if not uid or item.get("Linkedid") is None:
            continue
        if item.name == "Hangup":
            latest.pop(uid, None)
        else:
            latest[uid] = item
    listed = []
    for item in latest.values():
        keep = (
            "Channel",
            "ChannelStateDesc",
            "CallerIDNum",
            "CallerIDName",
            "ConnectedLineNum",
            "ConnectedLineName",
            "Context",
            "Exten",
            "Uniqueid",
            "Linkedid",
        )
        listed.append(
            Event(
                [
                    ("Event", "CoreShowChannel"),
                    *((k, item.get(k, "")) for k in keep),
                    ("Duration", "00:00:03"),
                    ("BridgeId", ""),
                ]
            )
        )
    return listed


def test_attaching_mid_call_after_a_resync_follows_the_call_to_its_end() -> None:
    events = capture_events("transcripts-sip/sip_01_inbound_answered_recorded")
    cut = max(i for i, item in enumerate(events) if item.name == "BridgeEnter") + 1
    tracker = CallTracker()
    adopted = tracker.resync(listing_at(events, cut))
    (call,) = tracker.live_calls()
    assert [u.kind for u in adopted] == ["updated", "answered"]
    assert call.id == "1795740570.2" and call.direction is Direction.INBOUND
    assert (call.caller.number, call.caller.name) == ("79161234567", "Мария Иванова")
    assert call.answered_by == "101" and call.rang == ["101"]
    updates = feed_all(tracker, events[cut:])
    assert updates[-1].kind == "ended" and updates[-1].call is call
    assert call.outcome is Outcome.ANSWERED and (call.callee.number, call.callee.name) == (
        "101",
        "Иван Петров",
    )
    assert call.ended_at is not None and call.cause == 16


def test_events_of_unknown_channels_are_ignored_without_a_resync() -> None:
    events = capture_events("transcripts-sip/sip_06_queue_answered_by_103")
    cut = next(i for i, item in enumerate(events) if item.name == "AgentConnect")
    tracker = CallTracker()
    feed_all(tracker, events[cut:])
    assert tracker.live_calls() == []


def test_reconnect_resync_keeps_survivors_and_ends_vanished_calls() -> None:
    first = capture_events("transcripts-sip/sip_01_inbound_answered_recorded")
    second = capture_events("transcripts-sip/sip_08_internal_101_to_102")
    cut_first = next(i for i, item in enumerate(first) if item.name == "BridgeEnter")
    cut_second = next(i for i, item in enumerate(second) if item.name == "BridgeEnter")
    tracker = CallTracker()
    feed_all(tracker, first[:cut_first])
    feed_all(tracker, second[:cut_second])
    assert len(tracker.live_calls()) == 2
    # the connection dropped; when it is back, only the internal call is still up
    updates = tracker.resync(listing_at(second, cut_second), received_at=1795740700.0)
    (ended,) = [u.call for u in updates if u.kind == "ended"]
    assert ended.id == "1795740570.2" and ended.outcome is Outcome.UNKNOWN_END
    # the latest time the PBX stamped (sip_08's CEL ANSWER, 00:50:59): the events were fed without
    # received_at, so nothing tells how long after that the call vanished
    assert ended.ended_at == 1795740659.0 and ended.answered_by == "101"
    (survivor,) = tracker.live_calls()
    assert survivor.id == "1795740656.19"
    done = feed_all(tracker, second[cut_second:])
    assert done[-1].call is survivor and survivor.outcome is Outcome.ANSWERED
    assert survivor.answered_by == "102"
    assert tracker.resync([]) == []


def test_resync_adopts_local_channels_from_a_real_list() -> None:
    """ami_07: CoreShowChannels while an Originate Local/autoanswer@test -> sink is up, then an empty list."""
    result, updates = replay_events(capture_events("transcripts/ami_07_coreshowchannels_active"))
    (call,) = result.finished
    assert call.outcome is Outcome.UNKNOWN_END
    assert (call.caller.number, call.caller.name) == ("100", "AMI Test")
    assert call.answered_by is None  # the ;2 half of a Local channel is not a callee
    assert [u.kind for u in updates] == ["updated", "ended"]


# ---------------------------------------------------------------- odd input never crashes


ODD_EVENTS = [
    Event([]),
    event("Hangup"),
    event("Hangup", Uniqueid="x", Cause="not a number"),
    event("DialBegin", DestUniqueid="y"),
    event("DialBegin", Uniqueid="z", Linkedid="z", Channel="PJSIP/101-1", DestUniqueid="w"),
    event("DialEnd", DestUniqueid="w", DialStatus="WEIRD"),
    event("CEL", EventTime="yesterday"),
    event("Newchannel", Uniqueid="q", Timestamp="soon"),
    event("BlindTransfer", Result="Success"),
    event("AttendedTransfer", Result="Success"),
    event("OriginateResponse", Response="Success"),
    event("QueueCallerJoin", Uniqueid="q"),
    event("VarSet", Variable="MIXMONITOR_FILENAME", Uniqueid="q", Value="${UNIQUEID}.wav"),
    event("SomethingNew", Uniqueid="q"),
]


def test_odd_events_never_raise() -> None:
    tracker = CallTracker()
    for item in ODD_EVENTS:
        tracker.feed(item)
    tracker.resync([event("CoreShowChannel", Uniqueid="r", Duration="bad"), event("CoreShowChannel")])
    assert all(call.id for call in tracker.live_calls())


@cache
def all_captured_events() -> tuple[Event, ...]:
    if not SHARED.is_dir():
        return ()
    return tuple(item for row in EXPECTED for item in capture_events(row.capture)) + tuple(ODD_EVENTS)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_random_subsequences_and_shuffles_never_crash(data: st.DataObject) -> None:
    pool = all_captured_events() or tuple(ODD_EVENTS)
    events = data.draw(st.lists(st.sampled_from(pool), max_size=120))
    if data.draw(st.booleans()):
        events = data.draw(st.permutations(events))
    tracker = CallTracker()
    for item in events:
        for update in tracker.feed(item, data.draw(st.none() | st.floats(0, 2e9))):
            assert update.kind in ("ringing", "answered", "ended", "updated")
            if update.kind == "ended":
                assert update.call.outcome is not None
    for update in tracker.resync(data.draw(st.lists(st.sampled_from(pool), max_size=10))):
        assert update.call.id
    assert all(call.live for call in tracker.live_calls())


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([row.capture for row in EXPECTED]), st.data())
def test_a_shuffled_capture_never_crashes(name: str, data: st.DataObject) -> None:
    events = data.draw(st.permutations(capture_events(name)))
    tracker = CallTracker()
    for item in events:
        tracker.feed(item)
    tracker.resync([])
    assert tracker.live_calls() == []


def test_capture_folder_is_where_the_tests_look() -> None:
    assert isinstance(require_shared(), Path)
