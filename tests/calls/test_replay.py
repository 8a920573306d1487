"""Every call captured from real Asterisk replays, from its raw AMI stream, to the facts read from it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ajam.calls.model import Call
from ajam.calls.replay import iter_events, replay_events, replay_file, replay_stream
from tests.calls.expectations import EXPECTED, Expected
from tests.support.ami_stream import server_stream
from tests.support.transcripts import require_shared

# CEL/Cdr dates and Uniqueids have one-second resolution; the captures' offsets add a few ms of jitter
TOLERANCE = 1.05


def capture_path(expected: Expected) -> Path:
    return require_shared() / f"{expected.capture}.txt"


def replayed(expected: Expected) -> Call:
    result = replay_stream(io.BytesIO(server_stream(capture_path(expected))))
    assert not result.live, "every captured call ends before the capture does"
    assert len(result.finished) == 1, [call.id for call in result.finished]
    return result.finished[0]


def assert_call_matches(call: Call, expected: Expected, *, tolerance: float = TOLERANCE) -> None:
    assert str(call.outcome) == expected.outcome
    assert str(call.direction) == expected.direction
    assert (call.caller.number, call.caller.name) == expected.caller
    assert (call.callee.number, call.callee.name) == expected.callee
    assert call.answered_by == expected.answered_by
    assert tuple(call.rang) == expected.rang
    assert {
        ext: str(outcome) for ext, outcome in call.extension_outcomes.items()
    } == expected.extension_outcomes
    assert call.queue == expected.queue
    assert tuple((t.kind, t.transferer, t.transferee, t.target) for t in call.transfers) == expected.transfers
    if expected.wait is not None:
        assert call.wait_seconds is not None
        assert abs(call.wait_seconds - expected.wait) <= tolerance, (call.wait_seconds, expected.wait)
    if expected.talk is not None:
        assert call.talk_seconds is not None
        assert abs(call.talk_seconds - expected.talk) <= tolerance, (call.talk_seconds, expected.talk)


@pytest.mark.parametrize("expected", EXPECTED, ids=[row.capture.split("/")[1] for row in EXPECTED])
def test_capture_replays_to_the_call_it_recorded(expected: Expected) -> None:
    call = replayed(expected)
    assert_call_matches(call, expected)
    assert call.recording == expected.recording
    assert call.cause == expected.cause
    assert call.started_at is not None and call.ended_at is not None or expected.wait is None
    document = call.to_json()
    assert document["outcome"] == expected.outcome
    assert document["caller"] == {"number": expected.caller[0], "name": expected.caller[1]}


def test_sip_01_durations_agree_with_its_cdr() -> None:
    """Cdr of sip_01: Duration 9, BillableSeconds 6; AnswerTime - StartTime = 3."""
    call = replayed(EXPECTED[0])
    assert call.wait_seconds == 3.0
    assert call.talk_seconds == 6.0
    assert call.started_at is not None and call.ended_at is not None
    assert call.ended_at - call.started_at == 9.0


def test_the_split_of_the_stream_does_not_matter() -> None:
    """A stream read in 7-byte pieces (Cyrillic names split mid-character) gives the same call."""
    expected = EXPECTED[9]  # the blind transfer: the longest SIP call
    raw = server_stream(capture_path(expected))
    pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    result, updates = replay_events(iter_events(pieces))
    assert len(result.finished) == 1
    assert_call_matches(result.finished[0], expected)
    assert [update.kind for update in updates if update.kind != "updated"] == [
        "ringing",
        "answered",
        "ringing",
        "ended",
    ]


def test_replay_file_reads_a_raw_stream_file(tmp_path: Path) -> None:
    expected = EXPECTED[4]
    stream_file = tmp_path / "ringgroup.ami"
    stream_file.write_bytes(server_stream(capture_path(expected)))
    result = replay_file(stream_file)
    assert len(result.calls) == 1
    assert_call_matches(result.calls[0], expected)


def test_all_captures_in_one_stream_give_every_call() -> None:
    """The twelve SIP calls back to back on one connection: twelve calls, none mixed with another."""
    rows = [row for row in EXPECTED if row.capture.startswith("transcripts-sip/")]
    stream = b"".join(server_stream(capture_path(row)) for row in rows)
    events = list(
        iter_events([stream.replace(b"Asterisk Call Manager/11.0.0\r\n", b"")], expect_banner=False)
    )
    result, _ = replay_events(events)
    assert len(result.finished) == len(rows)
    for call, row in zip(result.finished, rows, strict=True):
        assert_call_matches(call, row)


def test_a_stream_cut_mid_call_leaves_the_call_live() -> None:
    expected = EXPECTED[0]
    raw = server_stream(capture_path(expected))
    cut = raw.index(b"Event: HangupRequest")
    result = replay_stream(io.BytesIO(raw[:cut]))
    assert result.finished == []
    assert len(result.live) == 1
    live = result.live[0]
    assert live.live and live.answered_by == "101" and live.ended_at is None
    assert live.recording == f"{'/var/spool/asterisk/monitor'}/1795740570.2.wav"
