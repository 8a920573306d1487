"""The live call service: a manager client's events → the call tracker → journal and subscribers.

    async with CallService(client, journal=journal) as service:
        unsubscribe = service.subscribe(show_popup, extensions={"101"}, kinds={"ringing"})
        ...

On start it subscribes to the client's events *before* asking ``CoreShowChannels``, so nothing that
happens in between is lost, and resynchronises the tracker from that list; it does so again after every
``AjamReconnected`` or ``AjamGap`` notice (calls that vanished meanwhile end as ``unknown_end``).

A finished call is durable before it is announced: ``ended`` updates go to a committer task that stores
them in the journal and only then notifies subscribers. When storing fails the call waits in a bounded
retry queue (retried with backoff, announced once stored); if that queue overflows, the oldest call is
logged in full at ERROR level and counted in ``stats.lost`` — never dropped silently.

Reading events never waits for the journal, for subscribers or for contact lookups.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Call
from ajam.calls.notify import (
    ANSWERED,
    ENDED,
    KINDS,
    RINGING,
    Callback,
    CallNotification,
    Contact,
    ContactLookup,
    Subscription,
    run_lookup,
)
from ajam.calls.queues import QueueBoard
from ajam.calls.tracker import CallTracker, CallUpdate, TrackerConfig
from ajam.client import ManagerClient, is_notice
from ajam.client.base import NOTICE_GAP, NOTICE_RECONNECTED, EventStream
from ajam.errors import AjamError
from ajam.protocol.message import Event

log = logging.getLogger("ajam.calls.service")

Watcher = Callable[[Event, list[CallUpdate]], None]


@dataclass
class ServiceStats:
    events: int = 0
    updates: int = 0
    resyncs: int = 0
    resync_failures: int = 0
    finished: int = 0
    stored: int = 0
    store_failures: int = 0
    lost: int = 0  # finished calls given up after the retry queue overflowed (each logged in full)
    notifications: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


class CallService:
    def __init__(
        self,
        client: ManagerClient,
        *,
        journal: AsyncJournal | None,
        tracker_config: TrackerConfig | None = None,
        contact_lookup: ContactLookup | None = None,
        tracker: CallTracker | None = None,
        queue_board: QueueBoard | None = None,
        clock: Callable[[], float] = time.time,
        subscriber_queue: int = 1000,
        lookup_timeout: float = 2.0,
        retry_limit: int = 10_000,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        event_queue: int = 50_000,
    ) -> None:
        """``tracker`` replaces the one built from ``tracker_config``; ``queue_board`` (optional) is fed
        with every event and re-seeded from ``QueueStatus`` at each resync; ``clock`` gives the arrival
        time of events (the tracker prefers the PBX's own time stamps)."""
        self.client = client
        self.journal = journal
        self.tracker = tracker if tracker is not None else CallTracker(tracker_config)
        self.queue_board = queue_board
        self.contact_lookup = contact_lookup
        self.clock = clock
        self.stats = ServiceStats()
        self.subscriber_queue = subscriber_queue
        self.lookup_timeout = lookup_timeout
        self.retry_limit = retry_limit
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._event_queue = event_queue
        self._subscriptions: list[Subscription] = []
        self._watchers: list[Watcher] = []
        self._lookups: dict[tuple[str, str], asyncio.Task[Contact | None]] = {}
        self._finished: asyncio.Queue[Call] = asyncio.Queue()
        self._retry: deque[Call] = deque()
        self._inflight: list[Call] = []
        self._stream: EventStream | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._resync_wanted = asyncio.Event()
        self._synced = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Subscribe to events (connecting the client if needed), resync, and start following."""
        if self._loop_task is not None:
            return
        self._stream = self.client.events(maxsize=self._event_queue)
        if not self.client.connected:
            await self.client.connect()
        self._commit_task = asyncio.create_task(self._commit_loop(), name="ajam-calls-commit")
        await self._resync()
        self._loop_task = asyncio.create_task(self._event_loop(), name="ajam-calls-events")

    async def close(self, *, drain_timeout: float = 5.0) -> None:
        """Stop following; store and announce the calls already finished (up to ``drain_timeout`` s)."""
        if self._stream is not None:
            self._stream.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._commit_task is not None:
            await self._finish_commits(drain_timeout)
        for task in self._lookups.values():
            task.cancel()
        for subscription in list(self._subscriptions):
            await subscription.drain(drain_timeout)
        self._subscriptions.clear()
        for call in self._retry:
            self.stats.lost += 1
            log.error("call %s not stored in the journal before closing: %s", call.id, call.to_json())
        self._retry.clear()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ public API
    def live_calls(self) -> list[Call]:
        """Snapshots of the calls in progress."""
        return [copy.deepcopy(call) for call in self.tracker.live_calls()]

    def subscribe(
        self,
        callback: Callback,
        *,
        extensions: set[str] | Collection[str] | None = None,
        kinds: Collection[str] = KINDS,
        maxsize: int | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``callback(notification)`` for ringing / answered / ended (``kinds``) of every call, or only
        those of ``extensions``. Returns the function that unsubscribes. The callback runs in its own
        task, in order; when it falls ``maxsize`` notifications behind, newer ones are dropped and counted
        (see :attr:`subscriptions`) and ``on_overflow()`` is called when the dropping starts (ended calls
        are in the journal before they are announced: re-reading it recovers them)."""
        subscription = Subscription(
            callback,
            extensions=extensions,
            kinds=kinds,
            maxsize=maxsize or self.subscriber_queue,
            lookup_timeout=self.lookup_timeout,
            on_overflow=on_overflow,
        )
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
                subscription.cancel()

        return unsubscribe

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Low level: ``watcher(event, updates)`` runs synchronously right after the tracker took each
        event (click-to-call follows its Originate this way). It must be quick and must not raise."""
        self._watchers.append(watcher)

        def remove() -> None:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

        return remove

    @property
    def pending_retries(self) -> int:
        """Finished calls waiting to be stored again after a journal failure."""
        return len(self._retry)

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait until the latest resync (start, reconnect) has been applied."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    # ------------------------------------------------------------------ event loop
    async def _event_loop(self) -> None:
        stream = self._stream
        assert stream is not None
        async for event in stream:
            if is_notice(event):
                if event.name in (NOTICE_RECONNECTED, NOTICE_GAP):
                    log.info("resync after %s", event.name)
                    await self._resync()
                continue
            self._take(event, self.clock())

    def _take(self, event: Event, received_at: float) -> None:
        self.stats.events += 1
        try:
            updates = self.tracker.feed(event, received_at)
        except Exception:  # the tracker promises not to raise; one bad event must not stop the service
            log.exception("tracker failed on %s", event.name)
            return
        if self.queue_board is not None:
            self.queue_board.feed(event, received_at)
        self._apply(updates)
        for watcher in list(self._watchers):
            try:
                watcher(event, updates)
            except Exception:
                log.exception("call watcher %r failed", watcher)

    async def _resync(self) -> None:
        self._synced.clear()
        try:
            reply = await self.client.send("CoreShowChannels")
        except AjamError as error:
            self.stats.resync_failures += 1
            log.warning("resync failed (%s); calls are followed from events only until the next one", error)
            self._synced.set()
            return
        listing = [event for event in reply.events if event.name == "CoreShowChannel"]
        updates = self.tracker.resync(listing, self.clock())
        self.stats.resyncs += 1
        self._apply(updates)
        if self.queue_board is not None:
            await self._seed_queues(self.queue_board)
        self._synced.set()

    async def _seed_queues(self, board: QueueBoard) -> None:
        try:
            reply = await self.client.send("QueueStatus")
        except AjamError as error:
            log.warning("QueueStatus failed (%s); the queue board follows events only", error)
            return
        board.seed(reply.events, self.clock())

    def _apply(self, updates: list[CallUpdate]) -> None:
        for update in updates:
            self.stats.updates += 1
            if update.kind == ENDED:
                self.stats.finished += 1
                self._forget_lookups(update.call.id)
                self._finished.put_nowait(copy.deepcopy(update.call))
            elif update.kind in (RINGING, ANSWERED):
                snapshot = copy.deepcopy(update.call)
                pending = self._lookup(snapshot) if update.kind == RINGING else None
                self._announce(CallNotification(update.kind, snapshot, update.extension, None, pending))

    def _announce(self, notification: CallNotification) -> None:
        self.stats.notifications += 1
        for subscription in list(self._subscriptions):
            subscription.offer(notification)

    def _lookup(self, call: Call) -> asyncio.Task[Contact | None] | None:
        number = call.caller.number
        if self.contact_lookup is None or not number or not self._subscriptions:
            return None
        key = (call.id, number)
        task = self._lookups.get(key)
        if task is None:
            task = asyncio.create_task(run_lookup(self.contact_lookup, number))
            self._lookups[key] = task
        return task

    def _forget_lookups(self, call_id: str) -> None:
        for key in [key for key in self._lookups if key[0] == call_id]:
            del self._lookups[key]

    # ------------------------------------------------------------------ durable end of calls
    async def _commit_loop(self) -> None:
        delay = self.retry_initial
        while True:
            if self._retry:
                try:
                    call = await asyncio.wait_for(self._finished.get(), delay)
                except TimeoutError:
                    delay = await self._retry_stored(delay)
                    continue
            else:
                call = await self._finished.get()
            batch = [call]
            while not self._finished.empty():
                batch.append(self._finished.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[Call]) -> None:
        """Store then announce; what cannot be stored goes to the retry queue, in order."""
        if self.journal is None:
            for call in batch:
                self._announce(CallNotification(ENDED, call))
            return
        self._inflight = batch
        try:
            await self.journal.store_many(batch)
        except Exception as error:  # noqa: BLE001 - whatever failed, the call waits for a retry
            self.stats.store_failures += 1
            log.error("storing %d finished call(s) failed (%s); will retry", len(batch), error)
            for call in batch:
                self._keep_for_retry(call)
            return
        finally:
            self._inflight = []
        self.stats.stored += len(batch)
        for call in batch:
            self._announce(CallNotification(ENDED, call))

    def _keep_for_retry(self, call: Call) -> None:
        self._retry.append(call)
        while len(self._retry) > self.retry_limit:
            lost = self._retry.popleft()
            self.stats.lost += 1
            log.error("journal retry queue full: call %s given up: %s", lost.id, lost.to_json())

    async def _retry_stored(self, delay: float) -> float:
        """One retry of the oldest waiting calls; the next delay (reset on success)."""
        batch = list(self._retry)
        assert self.journal is not None
        try:
            await self.journal.store_many(batch)
        except Exception as error:  # noqa: BLE001 - whatever failed, the call waits for a retry
            self.stats.store_failures += 1
            log.warning("journal still failing (%s); %d call(s) waiting", error, len(self._retry))
            return min(delay * 2, self.retry_max)
        for _ in batch:
            self._retry.popleft()
        self.stats.stored += len(batch)
        for call in batch:
            self._announce(CallNotification(ENDED, call))
        return self.retry_initial

    async def _finish_commits(self, timeout: float) -> None:
        task = self._commit_task
        assert task is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while (not self._finished.empty() or self._inflight) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        leftovers = list(self._inflight)  # cancelled mid-write: stored again below (storing is idempotent)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        while not self._finished.empty():
            leftovers.append(self._finished.get_nowait())
        if leftovers or self._retry:
            pending = [*self._retry, *leftovers]
            self._retry.clear()
            if self.journal is not None:
                try:
                    await asyncio.wait_for(self.journal.store_many(pending), max(0.1, timeout))
                except Exception as error:  # noqa: BLE001 - whatever failed, the call waits for a retry
                    log.error("last attempt to store %d call(s) failed: %s", len(pending), error)
                    self._retry.extend(pending)
                    return
                self.stats.stored += len(pending)
            for call in pending:
                self._announce(CallNotification(ENDED, call))
