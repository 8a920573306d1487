"""Every scenario's events have the structure of the capture it models (see tests/sim/structure.py)."""

from __future__ import annotations

import pytest

from ajam.protocol.stream import parse_messages
from ajam.sim.channels import Headers
from ajam.sim.pbx import Pbx
from ajam.sim.scenarios import SCENARIOS
from tests.sim.script_from_capture import CAPTURES
from tests.sim.structure import TIMER_EVENTS, call_events, first_difference, is_call_event, structure
from tests.support.transcripts import SHARED, load, require_shared

UNCAPTURED = {"attended_transfer"}  # written from Asterisk's documentation (tested below)
PAIRS = [pytest.param(name, CAPTURES[name][0], id=name) for name in SCENARIOS if name not in UNCAPTURED]


async def record(name: str, **params: str) -> list[Headers]:
    pbx = Pbx(seed=1, speed=10_000)
    events: list[Headers] = []
    pbx.subscribe(events.append)
    await pbx.run_scenario(name, action_id="orig-1", **params)
    await pbx.aclose()
    return events


@pytest.mark.parametrize(("name", "capture"), PAIRS)
async def test_scenario_matches_capture_structure(name: str, capture: str) -> None:
    require_shared()
    expected = [headers for _, headers in call_events(load(SHARED / capture))]
    actual = await record(name)
    assert first_difference([e for e in actual if is_call_event(e)], expected) is None


def _rtcp_channels(events: list[Headers]) -> list[str]:
    """Channel (endpoint part) of each RTCP report (reports due at the same moment come in any order)."""
    return sorted(dict(h).get("Channel", "-").rpartition("-")[0] for h in events if h[0][1] in TIMER_EVENTS)


@pytest.mark.parametrize(("name", "capture"), PAIRS)
async def test_rtcp_reports_follow_the_capture(name: str, capture: str) -> None:
    """Reports come every 5 s per media stream, with the capture's header layout."""
    require_shared()
    transcript = load(SHARED / capture)
    expected: list[Headers] = []
    for chunk in transcript.of_kind("S>C"):
        if b"RTCPSent" in chunk.data:
            expected += [list(m.headers) for m in parse_messages(chunk.data) if m.get("Event") == "RTCPSent"]
    actual = await record(name)
    # a stream that outlives its channel (sip_10's transferer) reports without a channel block
    assert _rtcp_channels(actual) == _rtcp_channels(expected)
    order = sorted(expected, key=lambda h: dict(h).get("Channel", "-"))
    got_order = sorted(
        [h for h in actual if h[0][1] in TIMER_EVENTS], key=lambda h: dict(h).get("Channel", "-")
    )
    for got, want in zip(got_order, order, strict=True):
        assert [k for k, _ in got] == [k for k, _ in want]


async def test_every_scenario_has_a_capture() -> None:
    assert set(SCENARIOS) - UNCAPTURED <= set(CAPTURES)


async def test_cyrillic_caller_names_are_kept_exactly() -> None:
    events = await record("sip_inbound_answered_recorded")
    names = {value for headers in events for key, value in headers if key == "CallerIDName"}
    assert {"Мария Иванова", "Иван Петров"} <= names


async def test_parameters_change_the_caller_but_not_the_structure() -> None:
    base = await record("sip_queue_answered")
    other = await record("sip_queue_answered", caller_num="79030000001", caller_name="Пётр Сидоров")
    assert any(("CallerIDName", "Пётр Сидоров") in headers for headers in other)
    assert not any(("CallerIDName", "Мария Иванова") in headers for headers in other)
    strip = {"CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "CallerID", "Source",
             "CallerIDnum", "CallerIDname", "CallerIDani", "AppData", "LastData", "Value"}  # fmt: skip

    def shape(events: list[Headers]) -> list[object]:
        return structure([[(k, v) for k, v in h if not k.endswith(tuple(strip))] for h in events])

    assert shape(base) == shape(other)


async def test_uniqueids_follow_one_global_counter_and_linkedid_is_the_first_channel() -> None:
    events = await record("sip_ringgroup")
    news = [dict(h) for h in events if h[0] == ("Event", "Newchannel")]
    counters = [int(n["Uniqueid"].split(".")[1]) for n in news]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    assert {n["Linkedid"] for n in news} == {news[0]["Uniqueid"]}


# ---------------------------------------------------------------- attended transfer (no capture)
SNAPSHOT = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
            "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid")  # fmt: skip
BRIDGE = ("BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName", "BridgeNumChannels",
          "BridgeVideoSourceMode")  # fmt: skip


async def test_attended_transfer_event_has_the_documented_layout() -> None:
    """main/stasis_bridges.c attended_transfer_to_ami(): the header groups in this order."""
    events = await record("attended_transfer")
    (transfer,) = [h for h in events if h[0] == ("Event", "AttendedTransfer")]
    expected = ["Event", "Privilege", "Result"]
    for prefix, block in (("OrigTransferer", SNAPSHOT), ("Orig", BRIDGE), ("SecondTransferer", SNAPSHOT),
                          ("Second", BRIDGE), ("Transferee", SNAPSHOT), ("TransferTarget", SNAPSHOT)):  # fmt: skip
        expected += [prefix + key for key in block]
    expected += ["IsExternal", "DestType", "DestBridgeUniqueid"]
    assert [key for key, _ in transfer] == expected
    fields = dict(transfer)
    assert fields["Result"] == "Success" and fields["DestType"] == "Bridge" and fields["IsExternal"] == "Yes"
    assert fields["DestBridgeUniqueid"] == fields["OrigBridgeUniqueid"] != fields["SecondBridgeUniqueid"]
    assert fields["OrigTransfererChannel"].startswith("PJSIP/101-")
    assert fields["SecondTransfererChannel"].startswith("PJSIP/101-")
    assert fields["TransfereeCallerIDNum"] == "79161234567"
    assert fields["TransferTargetChannel"].startswith("PJSIP/102-")
    # the consultation call has its own Linkedid; the transferee keeps the original one
    assert (
        fields["SecondTransfererLinkedid"] != fields["OrigTransfererLinkedid"] == fields["TransfereeLinkedid"]
    )


async def test_attended_transfer_sequence_holds_merges_and_ends_with_the_caller_and_102() -> None:
    events = await record("attended_transfer")
    kinds = [h[0][1] for h in events if h[0][1] not in ("CEL", "VarSet", "Newexten", "RTCPSent")]
    hold, moh = kinds.index("Hold"), kinds.index("MusicOnHoldStart")
    unhold, transfer = kinds.index("Unhold"), kinds.index("AttendedTransfer")
    assert hold < moh < unhold < transfer
    by_channel: dict[str, list[str]] = {}
    for headers in events:
        fields = dict(headers)
        if fields["Event"] in ("BridgeEnter", "BridgeLeave", "Hangup"):
            by_channel.setdefault(fields["Channel"].rpartition("-")[0], []).append(fields["Event"])
    # 101's first channel leaves the original bridge, its consultation channel the second one; both hang up
    assert by_channel["PJSIP/101"] == [
        "BridgeEnter",
        "BridgeEnter",
        "BridgeLeave",
        "BridgeLeave",
        "Hangup",
        "Hangup",
    ]
    # 102 enters the consultation bridge, then the merged original one
    assert by_channel["PJSIP/102"] == ["BridgeEnter", "BridgeLeave", "BridgeEnter", "BridgeLeave", "Hangup"]
    merged = [dict(h) for h in events if h[0] == ("Event", "BridgeEnter")][-1]
    assert merged["Channel"].startswith("PJSIP/102-") and merged["BridgeNumChannels"] == "3"
    hangups = [dict(h)["Channel"] for h in events if h[0] == ("Event", "Hangup")]
    assert hangups[-2].startswith("PJSIP/carrier-") and hangups[-1].startswith("PJSIP/102-")
