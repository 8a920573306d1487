"""EventHub: cursors, history, scoped resume, bounded subscribers, long-poll wake-ups."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from ajam.gateway.hub import GAP, CursorExpired, Envelope, EventHub


def only(extension: str):  # type: ignore[no-untyped-def]
    return lambda envelope: not envelope.extensions or extension in envelope.extensions


def test_cursors_are_monotonic_and_start_from_the_clock() -> None:
    before = time.time_ns() // 1000
    hub = EventHub()
    assert hub.last_cursor >= before
    first = hub.publish("ringing", {"n": 1}, extensions=["101"])
    second = hub.publish("ended", {"n": 2})
    assert second.cursor == first.cursor + 1 == hub.last_cursor
    assert first.extensions == ("101",)


def test_envelope_json_is_serialised_once_and_round_trips() -> None:
    hub = EventHub(start=0)
    envelope = hub.publish("ringing", {"caller": "Иван"}, extensions=["101"])
    decoded = json.loads(envelope.json)
    assert decoded == {
        "cursor": 1,
        "type": "ringing",
        "at": envelope.at,
        "extensions": ["101"],
        "data": {"caller": "Иван"},
    }
    assert "Иван" in envelope.json  # not \u-escaped: smaller frames
    again = Envelope.from_json(decoded)
    assert again.json == envelope.json


def test_since_filters_and_knows_its_horizon() -> None:
    hub = EventHub(history=5, start=100)
    for index in range(8):
        hub.publish("ringing", {"i": index}, extensions=["101" if index % 2 else "102"])
    assert hub.last_cursor == 108
    assert hub.oldest_resumable == 103
    assert hub.since(102) is None  # cursor 103 is gone: resync
    mine = hub.since(103, only("101"))
    assert mine is not None and [envelope.cursor for envelope in mine] == [104, 106, 108]
    assert hub.since(108) == []
    assert hub.since(500) == []


async def test_subscription_resumes_after_a_cursor_then_follows_live() -> None:
    hub = EventHub(start=0)
    for index in range(3):
        hub.publish("ringing", {"i": index}, extensions=["101"])
    subscription = hub.subscribe(only("101"), after=1)
    hub.publish("answered", {}, extensions=["102"])  # not for 101
    hub.publish("answered", {}, extensions=["101"])
    received = [await anext(subscription) for _ in range(3)]
    assert [envelope.cursor for envelope in received] == [2, 3, 5]
    subscription.close()
    assert hub.subscriber_count == 0
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


async def test_expired_resume_cursor_gives_a_gap_first() -> None:
    hub = EventHub(history=2, start=0)
    for index in range(5):
        hub.publish("ringing", {"i": index})
    subscription = hub.subscribe(after=1)
    gap = await anext(subscription)
    assert gap.type == GAP and gap.cursor == 5 and gap.data["reason"] == "expired"
    hub.publish("ended", {})
    assert (await anext(subscription)).cursor == 6


async def test_slow_subscriber_drops_and_is_told_while_others_get_everything() -> None:
    hub = EventHub(start=0)
    slow = hub.subscribe(maxsize=3)
    fast = hub.subscribe(maxsize=1000)
    started = time.perf_counter()
    for index in range(100):
        hub.publish("ringing", {"i": index})
    assert time.perf_counter() - started < 0.5  # publishing never waits for a consumer
    assert [envelope.cursor for envelope in await fast.get_batch(1000)] == list(range(1, 101))
    batch = await slow.get_batch(1000)
    gap = batch[0]
    assert gap.type == GAP and gap.data["reason"] == "overflow"
    assert gap.data["after"] == 0  # nothing was taken before the overflow
    assert slow.dropped + len(batch) - 1 == 100
    assert gap.data["dropped"] == slow.dropped == hub.dropped
    assert [envelope.cursor for envelope in batch[1:]] == list(range(101 - len(batch) + 1, 101))
    assert gap.cursor < batch[1].cursor
    hub.publish("ended", {})
    assert (await anext(slow)).cursor == 101  # back to normal after the gap


async def test_wait_answers_at_once_when_something_is_newer() -> None:
    hub = EventHub(start=0)
    hub.publish("ringing", {}, extensions=["101"])
    started = time.perf_counter()
    got = await hub.wait(0, only("101"), timeout=5)
    assert [envelope.cursor for envelope in got] == [1]
    assert time.perf_counter() - started < 0.05


async def test_wait_wakes_within_milliseconds_of_a_publish_for_it() -> None:
    hub = EventHub(start=0)
    waiter = asyncio.create_task(hub.wait(0, only("101"), timeout=5))
    await asyncio.sleep(0.05)
    hub.publish("ringing", {}, extensions=["102"])  # someone else's: keeps waiting
    await asyncio.sleep(0.05)
    assert not waiter.done()
    published = time.perf_counter()
    hub.publish("ringing", {}, extensions=["101"])
    got = await waiter
    assert time.perf_counter() - published < 0.02
    assert [envelope.cursor for envelope in got] == [2]


async def test_wait_times_out_empty_and_refuses_expired_cursors() -> None:
    hub = EventHub(history=1, start=0)
    assert await hub.wait(0, timeout=0.05) == []
    hub.publish("a", {})
    hub.publish("b", {})
    with pytest.raises(CursorExpired):
        await hub.wait(0, timeout=1)


async def test_inject_keeps_cursors_ignores_duplicates_and_reports_skips() -> None:
    hub = EventHub(start=1_000)
    subscription = hub.subscribe()
    assert hub.inject(Envelope(1_001, "ringing", {}))
    assert not hub.inject(Envelope(1_001, "ringing", {}))  # duplicate
    assert hub.inject(Envelope(1_005, "ended", {}))  # 1002..1004 never arrived here
    assert hub.last_cursor == 1_005
    assert hub.since(1_001) is None and hub.since(1_004) == [hub.since(1_004)[0]]  # type: ignore[index]
    received = await subscription.get_batch()
    assert [(envelope.type, envelope.cursor) for envelope in received] == [
        ("ringing", 1_001),
        (GAP, 1_004),
        ("ended", 1_005),
    ]
    assert received[1].data["after"] == 1_001
    assert hub.publish("answered", {}).cursor == 1_006


async def test_skip_to_can_join_a_lower_cursor_space() -> None:
    hub = EventHub(start=10_000)
    hub.publish("a", {})
    hub.skip_to(50)
    assert hub.last_cursor == 50 and hub.since(49) is None and hub.since(50) == []
    assert hub.inject(Envelope(51, "b", {}))
