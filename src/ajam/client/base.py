"""What every manager client offers, whatever the transport (AMI over TCP or AJAM over HTTP).

Actions: :meth:`ManagerClient.send` returns a :class:`Reply` (the response and, for list actions, every
list event up to the one with ``EventList: Complete``). ``Response: Error`` raises :class:`ActionFailed`
(or :class:`PermissionDenied`) unless ``check=False``.

Events: :meth:`ManagerClient.events` (async iterator) and :meth:`ManagerClient.on` (handlers, sync or
async, by name or glob). Client-side filters drop events before they reach either; the server-side
eventmask (``Events``) and ``Filter`` rules set through this class are replayed after every reconnect.

Notices — events the client itself produces so that higher layers can resync their state. They are
:class:`Event` objects with ``Privilege: ajam`` and one of these names:

* ``AjamDisconnected`` — the link to the PBX dropped (``Reason``); events may be missed from now on.
* ``AjamReconnected`` — logged in again after a drop; eventmask and filters are restored. Anything that
  happened in between is lost: re-read the state (e.g. ``CoreShowChannels``).
* ``AjamGap`` — events were lost without a disconnect: the AJAM session expired and was renewed
  (``Reason: session expired``) or a slow consumer overflowed its queue (``Reason: queue overflow``,
  ``Dropped: N``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import itertools
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from ajam.client.url import ManagerUrl
from ajam.errors import ActionFailed, AuthenticationFailed, PermissionDenied
from ajam.protocol.encode import HeaderInput, action_pairs
from ajam.protocol.message import Event, Response
from ajam.protocol.permissions import required_classes

log = logging.getLogger("ajam.client")

NOTICE_DISCONNECTED = "AjamDisconnected"
NOTICE_RECONNECTED = "AjamReconnected"
NOTICE_GAP = "AjamGap"
NOTICES = frozenset({NOTICE_DISCONNECTED, NOTICE_RECONNECTED, NOTICE_GAP})

EventHandler = Callable[[Event], "Awaitable[None] | None"]
# Reconnect attempts back off to at most this many seconds: a PBX that comes back is found again within
# about that long (one refused TCP connect per attempt costs next to nothing).
RECONNECT_BACKOFF_MAX = 1.0
_action_ids = itertools.count(1)
_ACTION_ID_PREFIX = f"ajam-{os.getpid():x}"


def notice(name: str, **fields: str | int) -> Event:
    """A client notice (see the module docstring)."""
    return Event([("Event", name), ("Privilege", "ajam"), *((k, str(v)) for k, v in fields.items())])


def is_notice(event: Event) -> bool:
    return event.name in NOTICES and event.get("Privilege") == "ajam"


def new_action_id() -> str:
    return f"{_ACTION_ID_PREFIX}-{next(_action_ids)}"


@dataclass
class Reply:
    """The answer to one action: its response and the list events that belong to it."""

    response: Response
    events: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.response.is_success

    @property
    def output(self) -> list[str]:
        """Command output lines."""
        return self.response.output

    def to_dict(self) -> dict[str, object]:
        return {"response": self.response.to_dict(), "events": [event.to_dict() for event in self.events]}


def check_reply(action: str, reply: Reply) -> Reply:
    """Raise the error a ``Response: Error`` stands for; return the reply otherwise."""
    response = reply.response
    if response.status.lower() != "error":
        return reply
    message = response.message
    if message.lower() == "permission denied":
        raise PermissionDenied(action, required_classes(action), reply)
    if action.lower() == "login" and "authentication" in message.lower():
        raise AuthenticationFailed(message)
    raise ActionFailed(action, message, reply)


@dataclass
class ClientStats:
    """Counters that make every loss visible (nothing is dropped silently)."""

    actions_sent: int = 0
    responses: int = 0
    events_received: int = 0
    events_filtered: int = 0
    events_dropped: int = 0
    handler_errors: int = 0
    handler_calls_dropped: int = 0  # async handler calls refused while event_queue_size were still running
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    gaps: int = 0
    session_renewals: int = 0
    http_connections: int = 0  # distinct TCP connections the HTTP client's actions used (1 = kept alive)


class EventStream:
    """One consumer of :meth:`ManagerClient.events`: a bounded queue; overflow is counted and announced.

    When the queue is full the newest events are dropped and counted; right after the events queued
    before them, the consumer receives an ``AjamGap`` notice with ``Dropped: N``.
    """

    def __init__(self, owner: ManagerClient, maxsize: int) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self._pending_drops = 0
        self.closed = False

    def put(self, event: Event) -> None:
        queue = self._queue
        if self._pending_drops and not queue.full():
            queue.put_nowait(notice(NOTICE_GAP, Reason="queue overflow", Dropped=self._pending_drops))
            self._pending_drops = 0
        if queue.full():
            self._pending_drops += 1
            self._owner.stats.events_dropped += 1
            return
        queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._pending_drops and self._queue.empty():
            # the consumer caught up: tell it about the drops now, not when the PBX next sends something
            dropped, self._pending_drops = self._pending_drops, 0
            return notice(NOTICE_GAP, Reason="queue overflow", Dropped=dropped)
        if self.closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        """Stop the iteration (pending events are still delivered first)."""
        if self.closed:
            return
        self.closed = True
        self._owner._streams.discard(self)
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def aclose(self) -> None:
        self.close()


@dataclass(frozen=True)
class ServerFilter:
    """A ``Filter`` action to replay after a reconnect (legacy regex or advanced ``MatchCriteria``)."""

    filter: str
    match_criteria: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        pairs = [("Operation", "Add")]
        if self.match_criteria is not None:
            pairs.append(("MatchCriteria", self.match_criteria))
        pairs.append(("Filter", self.filter))
        return pairs


class ManagerClient(ABC):
    """The common async API of :class:`~ajam.client.tcp.AmiClient` and :class:`~ajam.client.http.AjamClient`."""

    def __init__(self, url: ManagerUrl, *, event_queue_size: int = 10_000) -> None:
        self.url = url
        self.stats = ClientStats()
        self.event_queue_size = event_queue_size
        self._handlers: list[tuple[str, EventHandler]] = []
        self._client_filters: list[str] = []
        self._streams: set[EventStream] = set()
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._eventmask: str | None = None
        self._server_filters: list[ServerFilter] = []

    # -- lifecycle ----------------------------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> None:
        """Open the transport and log in."""

    @abstractmethod
    async def close(self) -> None:
        """Log off (best effort) and release every resource; pending actions fail with ConnectionLost."""

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    async def __aenter__(self) -> Self:
        if not self.connected:
            await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- actions ------------------------------------------------------------------------------------
    async def send(
        self, action: str, headers: HeaderInput | None = None, *, timeout: float = 10.0, check: bool = True
    ) -> Reply:
        """Send one action and wait for its response (and list events).

        The headers are checked for CR/LF/NUL before anything is sent. An ``ActionID`` is added unless
        given; it is what correlates the reply.
        """
        pairs = action_pairs(action, headers)
        if not any(key.lower() == "actionid" for key, _ in pairs):
            pairs.append(("ActionID", new_action_id()))
        reply = await self._exchange(action, pairs, timeout)
        return check_reply(action, reply) if check else reply

    @abstractmethod
    async def _exchange(self, action: str, pairs: list[tuple[str, str]], timeout: float) -> Reply:
        """Transport-specific: send the checked pairs, return the reply."""

    # -- server-side event selection (replayed after reconnect) -------------------------------------
    async def set_eventmask(self, mask: str) -> Reply:
        """``Events`` action: ``on``, ``off`` or classes such as ``call,agent``; restored after reconnect."""
        reply = await self.send("Events", {"EventMask": mask})
        self._eventmask = mask
        return reply

    async def add_filter(self, filter: str = "", *, match_criteria: str | None = None) -> Reply:
        """``Filter`` action: a legacy regex (``"Event: Hangup"``, ``"!Event: VarSet"``) or an advanced
        ``MatchCriteria`` (``"action(include),name(DialBegin)"``); restored after reconnect."""
        rule = ServerFilter(filter, match_criteria)
        reply = await self.send("Filter", rule.headers())
        self._server_filters.append(rule)
        return reply

    async def _restore_event_selection(self) -> None:
        if self._eventmask is not None:
            await self.send("Events", {"EventMask": self._eventmask})
        for rule in self._server_filters:
            await self.send("Filter", rule.headers())

    # -- events -------------------------------------------------------------------------------------
    def on(self, pattern: str, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler`` for each event whose name matches ``pattern`` (case-insensitive glob).

        Async handlers run as tasks so a slow handler never blocks the connection. Returns a function
        that removes the handler.
        """
        entry = (pattern.lower(), handler)
        self._handlers.append(entry)
        self._want_events()

        def remove() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return remove

    def events(self, *, maxsize: int | None = None) -> EventStream:
        """An async iterator over every event (and notice) from now on; ``close()`` it when done."""
        stream = EventStream(self, maxsize or self.event_queue_size)
        self._streams.add(stream)
        self._want_events()
        return stream

    def filter_events(self, *patterns: str) -> None:
        """Client-side filter: only events whose name matches one of the globs are delivered.

        Notices always pass. Call with no argument to remove the filter.
        """
        self._client_filters = [pattern.lower() for pattern in patterns]

    def _want_events(self) -> None:
        """Hook: a consumer registered (the HTTP client starts its WaitEvent loop here)."""

    @property
    def has_event_consumers(self) -> bool:
        return bool(self._handlers or self._streams)

    def _deliver(self, event: Event) -> None:
        """Hand one event to every consumer (called by the transports)."""
        if not is_notice(event):
            self.stats.events_received += 1
            if self._client_filters and not _matches_any(event.name, self._client_filters):
                self.stats.events_filtered += 1
                return
        name = event.name.lower()
        for pattern, handler in list(self._handlers):
            if fnmatch.fnmatchcase(name, pattern):
                self._call_handler(handler, event)
        for stream in list(self._streams):
            stream.put(event)

    def _notify(self, name: str, **fields: str | int) -> None:
        if name == NOTICE_GAP:
            self.stats.gaps += 1
        log.info("%s: %s %s", self.url.redacted(), name, fields)
        self._deliver(notice(name, **fields))

    def _call_handler(self, handler: EventHandler, event: Event) -> None:
        try:
            result = handler(event)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("event handler %r failed on %s", handler, event.name)
            return
        if inspect.isawaitable(result):
            if len(self._handler_tasks) >= self.event_queue_size:
                # stalled async handlers: bound their backlog like an event queue, count and say so
                if inspect.iscoroutine(result):
                    result.close()
                if not self.stats.handler_calls_dropped:
                    log.warning(
                        "%s: async event handlers are not keeping up; dropping calls", self.url.redacted()
                    )
                self.stats.handler_calls_dropped += 1
                return
            task = asyncio.ensure_future(self._await_handler(result, event))
            self._handler_tasks.add(task)
            task.add_done_callback(self._handler_tasks.discard)

    async def _await_handler(self, result: Awaitable[None], event: Event) -> None:
        try:
            await result
        except Exception:
            self.stats.handler_errors += 1
            log.exception("async event handler failed on %s", event.name)

    def _close_streams(self) -> None:
        for stream in list(self._streams):
            stream.close()
        for task in list(self._handler_tasks):
            task.cancel()


def _matches_any(name: str, patterns: list[str]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in patterns)


async def iterate(stream: EventStream) -> AsyncIterator[Event]:
    """``async for`` helper that closes the stream when the loop ends."""
    try:
        async for event in stream:
            yield event
    finally:
        stream.close()
