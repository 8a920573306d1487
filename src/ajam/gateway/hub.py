"""The event hub: one ordered, resumable stream of push envelopes, fanned out to every client channel.

Every envelope gets the next **cursor** (a monotonic integer). Clients remember the last cursor they
saw and resume after it — over WebSocket, SSE or long-poll — from a bounded history ring. A cursor older
than that history cannot be resumed: the client is told to resynchronise (``since`` returns ``None``,
``wait`` raises :class:`CursorExpired`, a subscription yields a ``gap`` envelope).

Cursors of a fresh hub start at the current time in microseconds, so a restarted gateway never hands
out cursors a client already saw: a client's old cursor is then simply too old, and it resyncs.

Publishing never blocks and never waits for a client: each live :class:`Subscription` has its own
bounded queue. When a slow client's queue is full, its queued envelopes are dropped (and counted), and
the client next receives one ``gap`` envelope saying which cursors it missed, then newer envelopes.

Each envelope is serialised to JSON once, at publish time (:attr:`Envelope.json`); channels send that
text as it is to every client.

Fan-out cost: a filter may declare a **scope** (an attribute ``scope``, a ``frozenset`` of extensions:
"I accept an envelope that names extensions only when one of them is in my scope"), as the push
channels' operator filters do. The hub indexes such subscriptions by extension and offers an envelope
naming extensions only to the subscriptions of those extensions plus the unscoped ones (supervisors,
arbitrary filters), so a call reaches its operator without testing the other thousand filters.
Envelopes without extensions are offered to everyone.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

GAP = "gap"  # per-subscriber notice: events were dropped or the resume cursor was too old

EnvelopeFilter = Callable[["Envelope"], bool]


def _everyone(envelope: Envelope) -> bool:
    return True


def filter_scope(accepts: EnvelopeFilter) -> frozenset[str] | None:
    """The extensions a filter is limited to (its ``scope`` attribute), or ``None``: unscoped."""
    scope = getattr(accepts, "scope", None)
    return scope if isinstance(scope, frozenset) else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class CursorExpired(Exception):
    """The cursor is older than the hub's history: the client must resynchronise its state."""


class Envelope:
    """One push event as every channel sends it: ``{cursor, type, at, extensions, data}``."""

    __slots__ = ("at", "cursor", "extensions", "json", "type")

    def __init__(
        self, cursor: int, type: str, data: Mapping[str, Any], *, extensions: Iterable[str] = (), at: str = ""
    ) -> None:
        self.cursor = cursor
        self.type = type
        self.at = at or now_iso()
        self.extensions: tuple[str, ...] = tuple(extensions)
        self.json: str = json.dumps(
            {
                "cursor": cursor,
                "type": type,
                "at": self.at,
                "extensions": list(self.extensions),
                "data": dict(data),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @property
    def data(self) -> dict[str, Any]:
        """The event's data, decoded from :attr:`json` on each access. Only the text is kept: a history
        of 10,000 envelopes holding their dicts would be hundreds of thousands of objects for every full
        garbage collection to scan (pauses of 100 ms and more in a busy gateway)."""
        data = json.loads(self.json)["data"]
        return data if isinstance(data, dict) else {}

    def to_json(self) -> dict[str, Any]:
        value = json.loads(self.json)
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Envelope:
        """The inverse of :meth:`to_json` (used to carry envelopes between gateway processes)."""
        return cls(
            int(value["cursor"]),
            str(value["type"]),
            dict(value.get("data") or {}),
            extensions=[str(number) for number in value.get("extensions") or ()],
            at=str(value.get("at") or ""),
        )

    def __repr__(self) -> str:
        return f"Envelope({self.cursor}, {self.type!r}, extensions={self.extensions!r})"


def gap_envelope(cursor: int, *, after: int, dropped: int, reason: str) -> Envelope:
    """``cursor``: where the client may continue from; ``after``: the last cursor it had received."""
    return Envelope(cursor, GAP, {"after": after, "dropped": dropped, "reason": reason})


class Subscription:
    """A live feed of the envelopes one client may see. Async-iterate it; ``close()`` when done."""

    def __init__(self, hub: EventHub, accepts: EnvelopeFilter, maxsize: int) -> None:
        self._hub = hub
        self.accepts = accepts
        self.scope = filter_scope(accepts)
        self.maxsize = maxsize
        self.dropped = 0
        self.closed = False
        self._queue: deque[Envelope] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._delivered = 0  # cursor of the last envelope handed out (for gap notices)
        self._missing_since: int | None = None  # after an overflow: the last cursor the client got
        self._missing_count = 0

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            await self._wait()
        return self._take()

    async def get_batch(self, limit: int = 256) -> list[Envelope]:
        """Wait for at least one envelope and return up to ``limit`` queued ones (an empty list once
        closed). Writers use this to send a burst with one wake-up."""
        while not self._queue:
            if self.closed:
                return []
            await self._wait()
        batch = [self._take()]
        while self._queue and len(batch) < limit:
            batch.append(self._take())
        return batch

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub._remove(self)
            self._wake()

    # ------------------------------------------------------------------ hub side
    def _offer(self, envelope: Envelope) -> None:
        if not self.accepts(envelope):
            return
        if len(self._queue) >= self.maxsize:
            self._overflow(envelope)
            return
        self._queue.append(envelope)
        self._wake()

    def _overflow(self, newest: Envelope) -> None:
        """Drop what the client has not taken yet: it gets one gap envelope, then ``newest``."""
        dropped = [item for item in self._queue if item.type != GAP]
        keep_newest = bool(dropped) and self.maxsize > 1
        if not keep_newest:
            dropped.append(newest)
        if self._missing_since is None:
            self._missing_since = self._delivered
        self._missing_count += len(dropped)
        self.dropped += len(dropped)
        self._hub.dropped += len(dropped)
        self._queue.clear()
        self._queue.append(
            gap_envelope(
                dropped[-1].cursor, after=self._missing_since, dropped=self._missing_count, reason="overflow"
            )
        )
        if keep_newest:
            self._queue.append(newest)
        self._wake()

    def _notify_gap(self, cursor: int, reason: str) -> None:
        after = self._queue[-1].cursor if self._queue else self._delivered
        self._queue.append(gap_envelope(cursor, after=after, dropped=0, reason=reason))
        self._wake()

    def _take(self) -> Envelope:
        envelope = self._queue.popleft()
        if envelope.type == GAP:
            self._missing_since = None
            self._missing_count = 0
        self._delivered = envelope.cursor
        return envelope

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EventHub:
    """Assigns cursors, keeps the last ``history`` envelopes, and feeds subscribers and long-polls."""

    def __init__(self, *, history: int = 10_000, start: int | None = None) -> None:
        self.history_size = history
        first = start if start is not None else time.time_ns() // 1000
        self._last = first
        self._horizon = first  # every envelope with a cursor above this one is in the history
        self._history: deque[Envelope] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()
        self._unscoped: set[Subscription] = set()
        self._by_extension: dict[str, set[Subscription]] = {}
        self._changed: asyncio.Future[None] | None = None
        self.published = 0
        self.dropped = 0  # envelopes dropped for slow subscribers, all subscribers together
        self._listeners: list[Callable[[Envelope], None]] = []

    @property
    def last_cursor(self) -> int:
        return self._last

    @property
    def oldest_resumable(self) -> int:
        """The smallest cursor a client may resume after."""
        return self._horizon

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, type: str, data: Mapping[str, Any], *, extensions: Iterable[str] = ()) -> Envelope:
        """Give the event the next cursor and deliver it; ``extensions=()`` → visible to all (subject to
        the channel's own rules per type)."""
        envelope = Envelope(self._last + 1, type, data, extensions=extensions)
        self._deliver(envelope)
        return envelope

    def inject(self, envelope: Envelope) -> bool:
        """Take an envelope that already has its cursor (from another gateway process). A cursor not
        above :attr:`last_cursor` is a duplicate and ignored (``False``); one that skips cursors means
        some were missed here: history restarts and live subscribers get a ``gap`` envelope."""
        if envelope.cursor <= self._last:
            return False
        if envelope.cursor != self._last + 1:
            self.skip_to(envelope.cursor - 1)
        self._deliver(envelope)
        return True

    def skip_to(self, cursor: int) -> None:
        """Continue numbering after ``cursor`` (which may be lower, when joining another process's cursor
        space). Envelopes up to there are unknown here: history is forgotten, so older cursors cannot be
        resumed, and live subscribers are told with a ``gap`` envelope."""
        if cursor == self._last:
            return
        self._history.clear()
        self._last = self._horizon = cursor
        for subscription in list(self._subscriptions):
            subscription._notify_gap(cursor, "skipped")
        self._signal()

    def add_listener(self, listener: Callable[[Envelope], None]) -> Callable[[], None]:
        """``listener(envelope)`` runs synchronously after each delivery (the bus forwards this way).
        Returns the function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _deliver(self, envelope: Envelope) -> None:
        if len(self._history) == self._history.maxlen:
            self._horizon = self._history[0].cursor
        self._history.append(envelope)
        self._last = envelope.cursor
        self.published += 1
        for subscription in self._audience(envelope):
            subscription._offer(envelope)
        self._signal()
        for listener in tuple(self._listeners):
            listener(envelope)

    def _audience(self, envelope: Envelope) -> list[Subscription]:
        """The subscriptions that may accept ``envelope`` (their filters decide), in no fixed order."""
        if not envelope.extensions or not self._by_extension:
            return list(self._subscriptions)
        audience = list(self._unscoped)
        if len(envelope.extensions) == 1:
            audience.extend(self._by_extension.get(envelope.extensions[0], ()))
            return audience
        scoped: set[Subscription] = set()
        for extension in envelope.extensions:
            scoped.update(self._by_extension.get(extension, ()))
        audience.extend(scoped)
        return audience

    def _add(self, subscription: Subscription) -> None:
        self._subscriptions.add(subscription)
        if subscription.scope is None:
            self._unscoped.add(subscription)
            return
        for extension in subscription.scope:
            self._by_extension.setdefault(extension, set()).add(subscription)

    def _remove(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        self._unscoped.discard(subscription)
        for extension in subscription.scope or ():
            group = self._by_extension.get(extension)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._by_extension[extension]

    def _signal(self) -> None:
        if self._changed is not None:
            if not self._changed.done():
                self._changed.set_result(None)
            self._changed = None

    def subscribe(
        self, principal_filter: EnvelopeFilter = _everyone, *, after: int | None = None, maxsize: int = 1000
    ) -> Subscription:
        """A live feed of what ``principal_filter`` accepts, starting after ``after`` (default: now). When
        ``after`` is older than the history, the feed starts with a ``gap`` envelope (reason
        ``expired``) — the client resyncs, then follows the live envelopes."""
        subscription = Subscription(self, principal_filter, maxsize)
        subscription._delivered = self._last if after is None else after
        if after is not None:
            backlog = self.since(after, principal_filter)
            if backlog is None:
                subscription._notify_gap(self._last, "expired")
            else:
                for envelope in backlog:
                    subscription._offer(envelope)
        self._add(subscription)
        return subscription

    def since(self, cursor: int, principal_filter: EnvelopeFilter = _everyone) -> list[Envelope] | None:
        """The accepted envelopes after ``cursor``, oldest first; ``None`` when ``cursor`` is older than
        the history (the client must resync). A cursor at or beyond the newest gives ``[]``."""
        if cursor < self._horizon:
            return None
        newer: list[Envelope] = []
        for envelope in reversed(self._history):
            if envelope.cursor <= cursor:
                break
            if principal_filter(envelope):
                newer.append(envelope)
        newer.reverse()
        return newer

    async def wait(
        self, after: int, principal_filter: EnvelopeFilter = _everyone, timeout: float = 30.0
    ) -> list[Envelope]:
        """Long-poll core: the accepted envelopes after ``after`` — at once when there are any, else as
        soon as one is published, else ``[]`` after ``timeout`` seconds. Raises :class:`CursorExpired`
        when ``after`` is (or becomes) older than the history."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            newer = self.since(after, principal_filter)
            if newer is None:
                raise CursorExpired(after)
            if newer:
                return newer
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            if self._changed is None:
                self._changed = loop.create_future()
            changed = self._changed
            try:
                await asyncio.wait_for(asyncio.shield(changed), remaining)
            except TimeoutError:
                return []
