"""Click-to-call: ring the agent's phone, then dial the customer from it, and tell how it went.

    result = await click_to_call(client, service, extension="101", number="4951112233")
    if result.answered:                 # known at the customer's answer, not at the end of the call
        call = await result.final()     # the finished Call (as stored in the journal by the service)

Asterisk first calls ``channel_template`` (the agent's phone) with ``Originate`` (``Async``, with an
``ActionID``); when the agent answers, the phone runs ``context``/``dial_prefix + number`` which dials
the customer. The outcome comes from two places:

* the ``OriginateResponse`` (by ActionID) when the agent's phone did not answer: ``Reason`` 3 → the
  agent did not answer, 5 (busy) or 0 (rejected: a PJSIP phone answering 486 gives 0) → the agent was
  busy, anything else (1 hung up, 8 congestion, …) → failed, with the reason in words;
* the call tracker for the customer leg: answered (an answer by anyone but the agent), busy, no answer,
  cancelled (the agent hung up first) or failed.

``service_or_tracker`` is a running :class:`~ajam.calls.service.CallService` (preferred: its journal
keeps the call) or a bare :class:`~ajam.calls.tracker.CallTracker`, which this function then feeds from
the client's events until the call ends (do not feed that tracker elsewhere meanwhile). Works over both
transports: only ``client.send`` and ``client.events`` are used.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from ajam.calls.model import Call, Outcome
from ajam.calls.notify import CallNotification
from ajam.calls.tracker import ANSWERED, ENDED, CallTracker, CallUpdate, OriginateResult
from ajam.client import ManagerClient, is_notice
from ajam.client.base import new_action_id
from ajam.errors import HeaderInjection
from ajam.protocol.encode import check_header
from ajam.protocol.message import Event

log = logging.getLogger("ajam.calls.click_to_call")

Watcher = Callable[[Event, list[CallUpdate]], None]


class ClickToCallStatus(StrEnum):
    ANSWERED = "answered"  # the customer answered
    AGENT_NO_ANSWER = "agent_no_answer"
    AGENT_BUSY = "agent_busy"
    BUSY = "busy"  # the customer's line was busy
    NO_ANSWER = "no_answer"  # the customer did not answer
    CANCELLED = "cancelled"  # the agent hung up before the customer answered
    FAILED = "failed"
    TIMEOUT = "timeout"  # no result within the time allowed


ORIGINATE_REASONS = {
    "0": "the agent's phone rejected the call or hung up while ringing",
    "1": "the agent's channel hung up",
    "3": "the agent's phone rang without an answer",
    "4": "answered",
    "5": "the agent's phone is busy",
    "8": "congestion on the agent's channel",
}
_AGENT_FAILURES = {"3": ClickToCallStatus.AGENT_NO_ANSWER, "5": ClickToCallStatus.AGENT_BUSY}
_AGENT_FAILURES["0"] = ClickToCallStatus.AGENT_BUSY
_CUSTOMER_OUTCOMES = {
    Outcome.BUSY: ClickToCallStatus.BUSY,
    Outcome.NO_ANSWER: ClickToCallStatus.NO_ANSWER,
    Outcome.CANCELLED: ClickToCallStatus.CANCELLED,
    Outcome.FAILED: ClickToCallStatus.FAILED,
    Outcome.CONGESTION: ClickToCallStatus.FAILED,
    Outcome.UNKNOWN_END: ClickToCallStatus.FAILED,
}


class CallFeed(Protocol):
    """What click-to-call needs from whoever feeds the tracker (``CallService`` has it)."""

    @property
    def tracker(self) -> CallTracker: ...

    def watch(self, watcher: Watcher) -> Callable[[], None]: ...


class DurableFeed(CallFeed, Protocol):
    """A feed that announces finished calls once stored (``CallService.subscribe``)."""

    def subscribe(
        self, callback: Callable[[CallNotification], None], *, kinds: Collection[str]
    ) -> Callable[[], None]: ...


@dataclass
class ClickToCallResult:
    status: ClickToCallStatus
    action_id: str
    call_id: str | None
    reason: str
    call: Call | None = None  # snapshot when the result became known
    _final: asyncio.Future[Call | None] | None = field(default=None, repr=False, compare=False)

    @property
    def answered(self) -> bool:
        return self.status is ClickToCallStatus.ANSWERED

    async def final(self, timeout: float | None = None) -> Call | None:
        """The finished call (``None`` if it was never tracked, or not finished within ``timeout``)."""
        if self._final is None:
            return self.call if self.call is not None and not self.call.live else None
        try:
            return await asyncio.wait_for(asyncio.shield(self._final), timeout)
        except TimeoutError:
            return None

    def to_json(self) -> dict[str, object]:
        return {
            "status": str(self.status),
            "action_id": self.action_id,
            "call_id": self.call_id,
            "reason": self.reason,
            "call": None if self.call is None else self.call.to_json(),
        }


async def click_to_call(
    client: ManagerClient,
    service_or_tracker: CallFeed | CallTracker,
    *,
    extension: str,
    number: str,
    channel_template: str = "PJSIP/{extension}",
    context: str = "agents",
    dial_prefix: str = "8",
    caller_id: str | None = None,
    timeout: float = 30,
    result_timeout: float | None = None,
) -> ClickToCallResult:
    """Originate from ``extension`` to ``number``; the result as soon as it is known.

    ``timeout``: seconds the agent's phone may ring (the Originate ``Timeout``). ``result_timeout``
    (default ``timeout + 60``): how long to wait for any result; past it the status is ``timeout``.
    Raises :class:`HeaderInjection` before anything is sent when ``extension`` or ``number`` holds a
    CR, LF or NUL, and ``ActionFailed`` when the PBX refuses the Originate itself.
    """
    _refuse_line_breaks("extension", extension)
    _refuse_line_breaks("number", number)
    if caller_id is not None:
        _refuse_line_breaks("caller_id", caller_id)
    action_id = new_action_id()
    follower = _Follower(action_id, extension)
    if isinstance(service_or_tracker, CallTracker):
        feed: CallFeed = _TrackerFeed(client, service_or_tracker)
    else:
        feed = service_or_tracker
    follower.attach(feed)
    headers = [
        ("Channel", channel_template.format(extension=extension)),
        ("Context", context),
        ("Exten", f"{dial_prefix}{number}"),
        ("Priority", "1"),
        ("Timeout", str(int(timeout * 1000))),
        ("Async", "true"),
        ("ActionID", action_id),
    ]
    if caller_id is not None:
        headers.append(("CallerID", caller_id))
    try:
        await client.send("Originate", headers, timeout=max(10.0, timeout))
    except BaseException:
        follower.detach()
        raise
    wait = result_timeout if result_timeout is not None else timeout + 60
    try:
        return await asyncio.wait_for(asyncio.shield(follower.result), wait)
    except TimeoutError:
        follower.give_up(wait)
        return follower.result.result()


def _refuse_line_breaks(what: str, value: str) -> None:
    try:
        check_header(what, value)
    except HeaderInjection:
        raise HeaderInjection(
            f"click-to-call refused: the {what} {value[:40]!r} contains a CR, LF or NUL "
            "(it could inject another action)"
        ) from None


class _Follower:
    """Watches the tracker's updates for one Originate (runs inside the feed's event loop)."""

    def __init__(self, action_id: str, agent: str) -> None:
        self.action_id = action_id
        self.agent = agent
        loop = asyncio.get_running_loop()
        self.result: asyncio.Future[ClickToCallResult] = loop.create_future()
        self.final: asyncio.Future[Call | None] = loop.create_future()
        self.call_id: str | None = None
        self.originate: OriginateResult | None = None
        self._ended: dict[str, Call] = {}  # calls that ended before we knew which one is ours
        self._stored: dict[str, Call] = {}  # calls stored (and announced) before we knew which one is ours
        self._feed: CallFeed | None = None
        self._durable = False
        self._unwatch: Callable[[], None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, feed: CallFeed) -> None:
        """Follow ``feed``; with a service, the final call is the one it announces once stored."""
        self._feed = feed
        self._unwatch = feed.watch(self)
        if hasattr(feed, "subscribe"):
            durable: DurableFeed = feed  # type: ignore[assignment]
            self._unsubscribe = durable.subscribe(self._announced, kinds={ENDED})
            self._durable = True
        self.final.add_done_callback(lambda _: self.detach())

    def detach(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if isinstance(self._feed, _TrackerFeed):
            self._feed.stop()

    def __call__(self, event: Event, updates: list[CallUpdate]) -> None:
        if self.originate is None:
            for update in updates:
                if update.kind == ENDED:
                    self._ended[update.call.id] = copy.deepcopy(update.call)
            assert self._feed is not None
            found = self._feed.tracker.originate_result(self.action_id)
            if found is None:
                if len(self._ended) > 1000:
                    self._ended.clear()
                return
            self._originated(found)
            return
        for update in updates:
            if update.call.id == self.call_id:
                self._follow(update)

    def _announced(self, notification: CallNotification) -> None:
        call = notification.call
        if self.call_id is None:
            self._stored[call.id] = call
            if len(self._stored) > 1000:
                self._stored.clear()
        elif call.id == self.call_id:
            self._finish(call)

    def _originated(self, found: OriginateResult) -> None:
        self.originate = found
        self.call_id = found.call_id or found.uniqueid
        assert self._feed is not None
        if not found.success:
            status = _AGENT_FAILURES.get(found.reason, ClickToCallStatus.FAILED)
            text = ORIGINATE_REASONS.get(found.reason, "the Originate failed")
            live = self._feed.tracker.get(self.call_id) if self.call_id else None
            self._decide(status, f"{text} (OriginateResponse Failure, Reason {found.reason or '?'})", live)
        ended = self._ended.pop(self.call_id, None) if self.call_id else None
        stored = self._stored.pop(self.call_id, None) if self.call_id else None
        self._ended.clear()
        self._stored.clear()
        if ended is not None:
            self._ended_call(ended)
            if stored is not None:
                self._finish(stored)
            return
        live = self._feed.tracker.get(self.call_id) if self.call_id else None
        if live is None:
            if not found.success:
                self._finish(None)
            return
        if self._customer_answered(live):
            self._decide(ClickToCallStatus.ANSWERED, "the customer answered", live)

    def _follow(self, update: CallUpdate) -> None:
        if update.kind == ANSWERED and self._customer_answered(update.call):
            self._decide(ClickToCallStatus.ANSWERED, "the customer answered", update.call)
        elif update.kind == ENDED:
            self._ended_call(copy.deepcopy(update.call))

    def _customer_answered(self, call: Call) -> bool:
        return call.answered_by is not None and call.answered_by != self.agent

    def _ended_call(self, call: Call) -> None:
        outcome = call.outcome
        if outcome is Outcome.ANSWERED and self._customer_answered(call):
            self._decide(ClickToCallStatus.ANSWERED, "the customer answered", call)
        elif outcome is Outcome.ANSWERED:
            self._decide(ClickToCallStatus.FAILED, "the agent answered but no customer was reached", call)
        else:
            status = _CUSTOMER_OUTCOMES.get(outcome or Outcome.FAILED, ClickToCallStatus.FAILED)
            detail = f" (cause {call.cause} {call.cause_text})".rstrip() if call.cause is not None else ""
            self._decide(status, f"customer leg: {outcome}{detail}", call)
        if not self._durable:
            self._finish(call)

    def _decide(self, status: ClickToCallStatus, reason: str, call: Call | None) -> None:
        if self.result.done():
            return
        snapshot = copy.deepcopy(call) if call is not None else None
        self.result.set_result(
            ClickToCallResult(status, self.action_id, self.call_id, reason, snapshot, self.final)
        )

    def _finish(self, call: Call | None) -> None:
        if not self.final.done():
            self.final.set_result(call)

    def give_up(self, waited: float) -> None:
        reason = f"no result within {waited:g} s"
        if self.originate is not None and self.originate.success:
            reason += " (the agent answered)"
        self._decide(ClickToCallStatus.TIMEOUT, reason, None)
        self._finish(None)


class _TrackerFeed:
    """Feeds a bare tracker from the client's events while a click-to-call is followed."""

    def __init__(self, client: ManagerClient, tracker: CallTracker) -> None:
        self._tracker = tracker
        self._watchers: list[Watcher] = []
        self._stream = client.events()  # subscribed before the Originate is sent
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def tracker(self) -> CallTracker:
        return self._tracker

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        self._watchers.append(watcher)

        def remove() -> None:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

        return remove

    async def _run(self) -> None:
        async for event in self._stream:
            if is_notice(event):
                continue
            try:
                updates = self._tracker.feed(event)
            except Exception:
                log.exception("tracker failed on %s", event.name)
                continue
            for watcher in list(self._watchers):
                watcher(event, updates)

    def stop(self) -> None:
        self._stream.close()
