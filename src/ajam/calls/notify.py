"""Call notifications for subscribers: ringing, answered, ended — per extension or for everything.

A :class:`Subscription` owns a bounded queue and one task that calls its callback (sync or async), so a
slow subscriber delays nobody but itself: when its queue is full the newest notification is dropped
and counted in :attr:`Subscription.dropped` (and logged once per burst).

``ringing`` notifications carry the result of the optional contact lookup (``contact_lookup(number)``,
sync or async, returning a dict or ``None``). The lookup starts as soon as the call rings, once per call
and number, and each subscriber waits for it at most ``lookup_timeout`` seconds in its own task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ajam.calls.model import Call

log = logging.getLogger("ajam.calls.notify")

RINGING = "ringing"
ANSWERED = "answered"
ENDED = "ended"
KINDS: frozenset[str] = frozenset({RINGING, ANSWERED, ENDED})

Contact = dict[str, Any]
ContactLookup = Callable[[str], "Contact | None | Awaitable[Contact | None]"]


@dataclass(frozen=True, slots=True)
class CallNotification:
    """One thing that happened to a call. ``call`` is a snapshot taken when it happened."""

    kind: str  # "ringing" | "answered" | "ended"
    call: Call
    extension: str | None = None  # ringing/answered: the extension that rings / answered
    contact: Contact | None = None  # ringing: what contact_lookup found for the caller's number
    contact_pending: asyncio.Task[Contact | None] | None = field(default=None, repr=False, compare=False)

    @property
    def caller_number(self) -> str:
        return self.call.caller.number

    @property
    def caller_name(self) -> str:
        return self.call.caller.name

    def involves(self, extensions: Collection[str]) -> bool:
        """Whether a subscriber for ``extensions`` wants this notification.

        Ringing/answered: the extension that rings/answered. Ended: any extension that took part
        (placed the call, rang, answered, or was called).
        """
        if self.kind != ENDED:
            return self.extension is not None and self.extension in extensions
        call = self.call
        taking_part: Iterable[str | None] = (
            call.caller.number,
            call.callee.number,
            call.answered_by,
            *call.rang,
            *call.extension_outcomes,
        )
        return any(number in extensions for number in taking_part if number)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "extension": self.extension,
            "contact": self.contact,
            "call": self.call.to_json(),
        }


Callback = Callable[[CallNotification], "Awaitable[None] | None"]


class Subscription:
    """One subscriber: filter, bounded queue, delivery task. Create through ``CallService.subscribe``."""

    def __init__(
        self,
        callback: Callback,
        *,
        extensions: Collection[str] | None,
        kinds: Collection[str],
        maxsize: int,
        lookup_timeout: float,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        """``on_overflow`` is called (synchronously) when notifications start being dropped, once per
        episode: a subscriber that keeps its own copy (a web hub) must tell its readers to re-read."""
        unknown = set(kinds) - KINDS
        if unknown:
            raise ValueError(f"unknown notification kinds {sorted(unknown)}; use {sorted(KINDS)}")
        self.callback = callback
        self.extensions = frozenset(extensions) if extensions is not None else None
        self.kinds = frozenset(kinds)
        self.lookup_timeout = lookup_timeout
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self._queue: asyncio.Queue[CallNotification | None] = asyncio.Queue(maxsize)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._on_overflow = on_overflow
        self._overflowing = False

    def wants(self, notification: CallNotification) -> bool:
        if notification.kind not in self.kinds:
            return False
        return self.extensions is None or notification.involves(self.extensions)

    def offer(self, notification: CallNotification) -> None:
        """Queue ``notification`` if wanted; never blocks (full queue: dropped and counted)."""
        if self._closed or not self.wants(notification):
            return
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._deliver_all())
        try:
            self._queue.put_nowait(notification)
        except asyncio.QueueFull:
            if self.dropped == 0 or self.dropped % 100 == 0:
                log.warning(
                    "slow subscriber %r: notifications dropped (%d so far)", self.callback, self.dropped + 1
                )
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                if self._on_overflow is not None:
                    try:
                        self._on_overflow()
                    except Exception:
                        log.exception("overflow hook of subscriber %r failed", self.callback)

    async def _deliver_all(self) -> None:
        while True:
            if self._queue.empty():
                self._overflowing = False  # caught up: a new drop is a new episode
            notification = await self._queue.get()
            if notification is None:
                return
            if notification.contact_pending is not None:
                notification = replace(
                    notification,
                    contact=await _wait_contact(notification.contact_pending, self.lookup_timeout),
                    contact_pending=None,
                )
            try:
                result = self.callback(notification)
                if inspect.isawaitable(result):
                    await result
                self.delivered += 1
            except Exception:
                self.failed += 1
                log.exception("subscriber %r failed on a %s notification", self.callback, notification.kind)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def drain(self, timeout: float) -> None:
        """Deliver what is queued (at most ``timeout`` seconds), then stop."""
        self._closed = True
        task = self._task
        if task is None:
            return
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def cancel(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()


async def _wait_contact(pending: asyncio.Task[Contact | None], timeout: float) -> Contact | None:
    try:
        return await asyncio.wait_for(asyncio.shield(pending), timeout)
    except TimeoutError:
        return None  # run_lookup itself never raises: a failing hook was logged and gave None


async def run_lookup(lookup: ContactLookup, number: str) -> Contact | None:
    """Call the hook (a sync one runs in a worker thread); a failure is logged and gives ``None``."""
    try:
        if inspect.iscoroutinefunction(lookup):
            result = await lookup(number)
        else:
            result = await asyncio.to_thread(lookup, number)
            if inspect.isawaitable(result):
                result = await result
    except Exception:
        log.exception("contact lookup failed for a caller number")
        return None
    return result if isinstance(result, dict) else None
