"""Offline replay: a raw AMI TCP stream (banner + messages exactly as Asterisk sends them) → calls.

Durations come from the times the events carry (see :mod:`ajam.calls.tracker_clock`), so a replay
matches what a live tracker saw. ``CoreShowChannel`` list events in the stream resynchronise the
tracker, as a client does after connecting in the middle of calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ajam.calls.model import Call
from ajam.calls.tracker import ENDED, CallTracker, CallUpdate, TrackerConfig
from ajam.protocol.message import Event
from ajam.protocol.stream import StreamParser

CHUNK_SIZE = 64 * 1024


@dataclass
class ReplayResult:
    finished: list[Call] = field(default_factory=list)  # in the order they ended
    live: list[Call] = field(default_factory=list)  # still up when the stream ended
    updates: int = 0
    events: int = 0

    @property
    def calls(self) -> list[Call]:
        return self.finished + self.live


def iter_events(chunks: Iterable[bytes], *, expect_banner: bool = True) -> Iterator[Event]:
    """Every event of a raw AMI stream given in chunks of any size (responses are skipped)."""
    parser = StreamParser(expect_banner=expect_banner)
    for chunk in chunks:
        parser.receive_data(chunk)
        for item in parser:
            if isinstance(item, Event):
                yield item
    parser.receive_eof()
    for item in parser:
        if isinstance(item, Event):
            yield item


def read_chunks(stream: BinaryIO, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def replay_events(
    events: Iterable[Event], tracker: CallTracker | None = None, config: TrackerConfig | None = None
) -> tuple[ReplayResult, list[CallUpdate]]:
    """Feed ``events`` to a tracker; the finished and live calls plus every update, in order."""
    tracker = tracker or CallTracker(config)
    result = ReplayResult()
    updates: list[CallUpdate] = []
    listing: list[Event] | None = None
    for event in events:
        result.events += 1
        name = event.get("Event", "")
        if name == "CoreShowChannel":
            if listing is None:
                listing = []
            listing.append(event)
            continue
        if name == "CoreShowChannelsComplete":
            updates.extend(tracker.resync(listing or []))
            listing = None
            continue
        updates.extend(tracker.feed(event))
    result.finished = [update.call for update in updates if update.kind == ENDED]
    result.live = tracker.live_calls()
    result.updates = len(updates)
    return result, updates


def replay_stream(stream: BinaryIO, config: TrackerConfig | None = None) -> ReplayResult:
    """Replay a raw AMI TCP stream read from ``stream`` (it must start with the banner)."""
    result, _ = replay_events(iter_events(read_chunks(stream)), config=config)
    return result


def replay_file(path: str | Path, config: TrackerConfig | None = None) -> ReplayResult:
    with open(path, "rb") as stream:
        return replay_stream(stream, config)
