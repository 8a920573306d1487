"""Throughput and memory of ``ajam.calls.tracker.CallTracker`` on recorded Asterisk call traffic.

The event stream is built from the real SIP captures in ``shared/asterisk/transcripts-sip`` (every
event the server sent during the 12 calls, including the noise a tracker must skip: VarSet, Newexten,
QueueMemberStatus, RTCP...). Each copy of a capture gets fresh Uniqueids/Linkedids, and ``--concurrency``
copies are interleaved event by event, so that many calls are live at once. Events are parsed by
``ajam.protocol.StreamParser`` (lazily split, as a client hands them over) before the clock starts;
only ``tracker.feed`` is timed.

Memory: ``--live`` calls (copies of sip_01, fed up to the answer) are held live and measured with
tracemalloc; the figure is the tracker's growth divided by the number of live calls.

    python bench/bench_tracker.py            # >= 1M events, 100k live calls
    python bench/bench_tracker.py --quick    # a smoke run

A script, not a test: it prints figures and never asserts timings. Targets: >= 100k events/s,
<= 2 KiB per live call.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from ajam.calls.tracker import CallTracker
from ajam.protocol.message import Event
from ajam.protocol.stream import StreamParser

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "asterisk"
_MARKER = re.compile(rb"#### (\S+) t=\+([\d.]+)s bytes=(\d+)\n")
_UNIQUEID = re.compile(rb"\b1795\d{6}\.\d+\b")


def capture_events(path: Path) -> list[bytes]:
    """The raw bytes of every event message the server sent in one capture."""
    raw = path.read_bytes()
    messages: list[bytes] = []
    pos = raw.find(b"\n#### ") + 1
    while 0 < pos < len(raw):
        match = _MARKER.match(raw, pos)
        if match is None:
            break
        start = match.end()
        data = raw[start : start + int(match.group(3))]
        pos = start + int(match.group(3)) + 1
        if match.group(1) == b"S>C" and data.startswith(b"Event:"):
            messages.append(data)
    return messages


class Relabel:
    """Fresh Uniqueids for each copy of a capture (same epoch second, new counter)."""

    def __init__(self) -> None:
        self.counter = 0

    def copy(self, messages: list[bytes]) -> list[bytes]:
        mapping: dict[bytes, bytes] = {}

        def fresh(match: re.Match[bytes]) -> bytes:
            old = match.group(0)
            new = mapping.get(old)
            if new is None:
                self.counter += 1
                new = old.split(b".")[0] + b".%d" % (1_000_000 + self.counter)
                mapping[old] = new
            return new

        return [_UNIQUEID.sub(fresh, message) for message in messages]


def parse(messages: list[bytes]) -> list[Event]:
    parser = StreamParser(expect_banner=False)
    parser.receive_data(b"".join(messages))
    return [item for item in parser if isinstance(item, Event)]


def interleaved(calls: list[list[bytes]]) -> Iterator[bytes]:
    """Round-robin over the calls' messages, keeping each call's own order."""
    iterators = [iter(call) for call in calls]
    while iterators:
        alive = []
        for iterator in iterators:
            message = next(iterator, None)
            if message is not None:
                yield message
                alive.append(iterator)
        iterators = alive


def throughput(captures: list[list[bytes]], target_events: int, concurrency: int) -> None:
    relabel = Relabel()
    tracker = CallTracker()
    fed = ended = 0
    elapsed = 0.0
    while fed < target_events:
        batch = [relabel.copy(captures[i % len(captures)]) for i in range(concurrency)]
        events = parse(list(interleaved(batch)))
        feed = tracker.feed
        gc.disable()
        start = time.perf_counter()
        for event in events:
            for update in feed(event):
                if update.kind == "ended":
                    ended += 1
        elapsed += time.perf_counter() - start
        gc.enable()
        fed += len(events)
    print(f"throughput: {fed:,} events, {ended:,} calls ended, {concurrency:,} calls interleaved per batch")
    print(
        f"  {fed / elapsed:,.0f} events/s  ({elapsed * 1e6 / fed:.2f} µs/event; target >= 100,000 events/s)"
    )
    print(f"  live calls left: {len(tracker.live_calls())}")


def memory(sip_01: list[bytes], live: int) -> None:
    answered = next(i for i, message in enumerate(sip_01) if b"Event: BridgeEnter" in message)
    head = sip_01[: answered + 2]
    relabel = Relabel()
    tracker = CallTracker()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(live):
        for event in parse(relabel.copy(head)):
            tracker.feed(event)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    held = len(tracker.live_calls())
    print(f"memory: {held:,} live calls held (sip_01 up to the answer)")
    print(f"  {(after - before) / held:,.0f} bytes per live call (target <= 2,048)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run for a smoke test")
    parser.add_argument("--events", type=int, default=None, help="events to feed (default 1.2M, quick 100k)")
    parser.add_argument("--concurrency", type=int, default=2_000, help="calls interleaved per batch")
    parser.add_argument("--live", type=int, default=None, help="live calls for the memory figure")
    args = parser.parse_args()
    paths = sorted(SHARED.glob("transcripts-sip/sip_*.txt"))
    if not paths:
        sys.exit(f"no captures found under {SHARED}")
    captures = [capture_events(path) for path in paths]
    per_round = sum(len(capture) for capture in captures)
    print(f"{len(captures)} SIP captures, {per_round} events per round of all 12 calls")
    events = args.events or (100_000 if args.quick else 1_200_000)
    live = args.live or (5_000 if args.quick else 100_000)
    throughput(captures, events, min(args.concurrency, events // 50 or 1))
    memory(captures[0], live)


if __name__ == "__main__":
    main()
