"""The call-center view: queues, the callers waiting in them, and the agents' state (sans-I/O).

:class:`QueueBoard` is seeded from a ``QueueStatus`` list (``QueueParams``, ``QueueMember``,
``QueueEntry``) and kept current by the queue events (``QueueCallerJoin/Leave/Abandon``,
``QueueMemberStatus/Added/Removed/Pause/Penalty``, ``AgentCalled/RingNoAnswer/Connect/Complete/Dump``).
It never raises on odd events. Figures for a period (answered, abandoned, average wait) come from the
call journal (``Journal.stats``) and are attached with :meth:`QueueBoard.attach_stats`.

:func:`load_queue_board` does the I/O for a one-off snapshot (``ajam queues``); ``CallService`` can keep
a board live (``queue_board=``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ajam.calls.model import iso
from ajam.protocol.message import Event

if TYPE_CHECKING:
    from ajam.calls.journal import AsyncJournal, QueueStats
    from ajam.client import ManagerClient

# Asterisk device states (AST_DEVICE_*), as QueueMember/QueueMemberStatus ``Status`` numbers
DEVICE_STATES = {
    0: "unknown",
    1: "available",
    2: "in_use",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ringing",  # ringing while in use
    8: "on_hold",
}


@dataclass(slots=True)
class WaitingCaller:
    uniqueid: str
    channel: str
    number: str
    name: str
    position: int
    joined_at: float

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "position": self.position,
            "number": self.number,
            "name": self.name,
            "channel": self.channel,
            "uniqueid": self.uniqueid,
            "wait_seconds": round(max(0.0, now - self.joined_at), 3),
        }


@dataclass(slots=True)
class Agent:
    """A queue member. ``state``: talking, ringing, paused, or the device state (available, busy, …)."""

    interface: str
    name: str = ""
    status: int = 0
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    calls_taken: int = 0
    penalty: int = 0
    ringing_for: str | None = None  # Uniqueid of the caller it rings for
    talking_to: str | None = None  # Uniqueid of the caller it talks to
    since: float | None = None  # when the state last changed (as seen by the board)

    @property
    def state(self) -> str:
        if self.talking_to is not None:
            return "talking"
        if self.ringing_for is not None:
            return "ringing"
        if self.paused:
            return "paused"
        return DEVICE_STATES.get(self.status, "unknown")

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "interface": self.interface,
            "name": self.name,
            "state": self.state,
            "paused": self.paused,
            "paused_reason": self.paused_reason,
            "calls_taken": self.calls_taken,
            "penalty": self.penalty,
            "in_state_seconds": None if self.since is None else round(max(0.0, now - self.since), 3),
        }


@dataclass(slots=True)
class Queue:
    name: str
    strategy: str = ""
    waiting: dict[str, WaitingCaller] = field(default_factory=dict)  # by caller Uniqueid
    agents: dict[str, Agent] = field(default_factory=dict)  # by interface
    answered: int = 0  # seen by this board (AgentConnect)
    abandoned: int = 0  # seen by this board (QueueCallerAbandon)
    hold_times: list[float] = field(default_factory=list)  # AgentConnect HoldTime of the answered calls
    pbx_completed: int | None = None  # QueueParams counters (since the PBX started or the queue reset)
    pbx_abandoned: int | None = None
    period: QueueStats | None = None

    def longest_wait(self, now: float) -> float | None:
        if not self.waiting:
            return None
        return round(max(now - caller.joined_at for caller in self.waiting.values()), 3)

    def to_json(self, now: float) -> dict[str, object]:
        average = round(sum(self.hold_times) / len(self.hold_times), 3) if self.hold_times else None
        waiting = sorted(self.waiting.values(), key=lambda caller: caller.position)
        return {
            "name": self.name,
            "strategy": self.strategy,
            "waiting": [caller.to_json(now) for caller in waiting],
            "longest_wait": self.longest_wait(now),
            "agents": [agent.to_json(now) for agent in sorted(self.agents.values(), key=_agent_key)],
            "answered": self.answered,
            "abandoned": self.abandoned,
            "average_wait": average,
            "pbx_completed": self.pbx_completed,
            "pbx_abandoned": self.pbx_abandoned,
            "period": None if self.period is None else self.period.to_json(),
        }


def _agent_key(agent: Agent) -> str:
    return agent.interface


class QueueBoard:
    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.period: tuple[float, float] | None = None
        self._handlers: dict[str, Callable[[Event, float], None]] = {
            "QueueCallerJoin": self._caller_join,
            "QueueCallerLeave": self._caller_leave,
            "QueueCallerAbandon": self._caller_abandon,
            "QueueMemberStatus": self._member_status,
            "QueueMemberAdded": self._member_status,
            "QueueMemberRemoved": self._member_removed,
            "QueueMemberPause": self._member_pause,
            "QueueMemberPaused": self._member_pause,  # Asterisk 11 name
            "QueueMemberPenalty": self._member_penalty,
            "AgentCalled": self._agent_called,
            "AgentRingNoAnswer": self._agent_ring_no_answer,
            "AgentConnect": self._agent_connect,
            "AgentComplete": self._agent_complete,
            "AgentDump": self._agent_complete,
        }

    # ------------------------------------------------------------------ input
    def seed(self, events: Iterable[Event], now: float | None = None) -> None:
        """Replace the board's live state with a ``QueueStatus`` list (counters seen so far are kept)."""
        moment = time.time() if now is None else now
        listed: dict[str, Queue] = {}
        for event in events:
            name = event.get("Queue")
            if not name:
                continue
            previous = self.queues.get(name)
            queue = listed.get(name)
            if queue is None:
                queue = Queue(name)
                if previous is not None:
                    queue.answered, queue.abandoned = previous.answered, previous.abandoned
                    queue.hold_times, queue.period = previous.hold_times, previous.period
                listed[name] = queue
            kind = event.name
            if kind == "QueueParams":
                queue.strategy = event.get("Strategy", "")
                queue.pbx_completed = _int(event.get("Completed"))
                queue.pbx_abandoned = _int(event.get("Abandoned"))
            elif kind == "QueueMember":
                interface = event.get("StateInterface") or event.get("Location") or event.get("Interface")
                if interface:
                    agent = Agent(interface, since=moment)
                    _update_agent(agent, event)
                    old = previous.agents.get(interface) if previous is not None else None
                    if old is not None:
                        agent.ringing_for, agent.talking_to, agent.since = (
                            old.ringing_for,
                            old.talking_to,
                            old.since,
                        )
                    queue.agents[interface] = agent
            elif kind == "QueueEntry":
                uniqueid = event.get("Uniqueid") or event.get("Channel", "")
                wait = _float(event.get("Wait")) or 0.0
                queue.waiting[uniqueid] = WaitingCaller(
                    uniqueid=uniqueid,
                    channel=event.get("Channel", ""),
                    number=_clean(event.get("CallerIDNum")),
                    name=_clean(event.get("CallerIDName")),
                    position=_int(event.get("Position")) or len(queue.waiting) + 1,
                    joined_at=moment - wait,
                )
        self.queues = listed

    def feed(self, event: Event, received_at: float | None = None) -> bool:
        """Apply one event; whether the board changed."""
        handler = self._handlers.get(event.name)
        if handler is None or not event.get("Queue"):
            return False
        handler(event, time.time() if received_at is None else received_at)
        return True

    def attach_stats(self, stats: Iterable[QueueStats], since: float, until: float) -> None:
        """Per-queue journal figures for ``[since, until)`` (queues only known to the journal appear)."""
        self.period = (since, until)
        for entry in stats:
            self._queue(entry.queue).period = entry

    # ------------------------------------------------------------------ output
    def waiting(self, queue: str) -> list[WaitingCaller]:
        found = self.queues.get(queue)
        return sorted(found.waiting.values(), key=lambda c: c.position) if found is not None else []

    def agent(self, queue: str, interface: str) -> Agent | None:
        found = self.queues.get(queue)
        return found.agents.get(interface) if found is not None else None

    def to_json(self, now: float | None = None) -> dict[str, object]:
        moment = time.time() if now is None else now
        period = None
        if self.period is not None:
            period = {"since": iso(self.period[0]), "until": iso(self.period[1])}
        return {
            "queues": [self.queues[name].to_json(moment) for name in sorted(self.queues)],
            "period": period,
        }

    # ------------------------------------------------------------------ handlers
    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = Queue(name)
        return queue

    def _agent(self, event: Event, now: float) -> Agent | None:
        interface = event.get("StateInterface") or event.get("Interface")
        if not interface:
            return None
        queue = self._queue(event.get("Queue", ""))
        agent = queue.agents.get(interface)
        if agent is None:
            agent = queue.agents[interface] = Agent(interface, name=event.get("MemberName", ""), since=now)
        return agent

    def _caller_join(self, event: Event, now: float) -> None:
        uniqueid = event.get("Uniqueid") or event.get("Channel", "")
        queue = self._queue(event.get("Queue", ""))
        queue.waiting[uniqueid] = WaitingCaller(
            uniqueid=uniqueid,
            channel=event.get("Channel", ""),
            number=_clean(event.get("CallerIDNum")),
            name=_clean(event.get("CallerIDName")),
            position=_int(event.get("Position")) or len(queue.waiting) + 1,
            joined_at=now,
        )

    def _caller_leave(self, event: Event, now: float) -> None:
        queue = self._queue(event.get("Queue", ""))
        left = queue.waiting.pop(event.get("Uniqueid") or event.get("Channel", ""), None)
        if left is not None:
            for caller in queue.waiting.values():
                if caller.position > left.position:
                    caller.position -= 1
        self._stop_ringing(queue, left.uniqueid if left is not None else event.get("Uniqueid"), now)

    def _caller_abandon(self, event: Event, now: float) -> None:
        queue = self._queue(event.get("Queue", ""))
        queue.abandoned += 1
        self._caller_leave(event, now)

    def _member_status(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is None:
            return
        before = agent.state
        _update_agent(agent, event)
        if agent.state != before:
            agent.since = now

    def _member_removed(self, event: Event, now: float) -> None:
        interface = event.get("StateInterface") or event.get("Interface")
        queue = self.queues.get(event.get("Queue", ""))
        if queue is not None and interface:
            queue.agents.pop(interface, None)

    def _member_pause(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is None:
            return
        paused = event.get("Paused", "0") in ("1", "true", "yes")
        if paused != agent.paused:
            agent.since = now
        agent.paused = paused
        agent.paused_reason = (event.get("PausedReason") or event.get("Reason") or "") if paused else ""

    def _member_penalty(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is not None:
            agent.penalty = _int(event.get("Penalty")) or 0

    def _agent_called(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is not None:
            agent.ringing_for = event.get("Uniqueid") or ""
            agent.since = now

    def _agent_ring_no_answer(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is not None and agent.ringing_for is not None:
            agent.ringing_for = None
            agent.since = now

    def _agent_connect(self, event: Event, now: float) -> None:
        queue = self._queue(event.get("Queue", ""))
        caller = event.get("Uniqueid") or ""
        queue.answered += 1
        hold = _float(event.get("HoldTime"))
        if hold is not None:
            queue.hold_times.append(hold)
        agent = self._agent(event, now)
        if agent is not None:
            agent.ringing_for = None
            agent.talking_to = caller
            agent.since = now
        self._stop_ringing(queue, caller, now)

    def _agent_complete(self, event: Event, now: float) -> None:
        agent = self._agent(event, now)
        if agent is not None:
            agent.talking_to = None
            agent.ringing_for = None
            agent.since = now

    @staticmethod
    def _stop_ringing(queue: Queue, caller: str | None, now: float) -> None:
        if not caller:
            return
        for agent in queue.agents.values():
            if agent.ringing_for == caller:
                agent.ringing_for = None
                agent.since = now


async def load_queue_board(
    client: ManagerClient,
    *,
    journal: AsyncJournal | None = None,
    period: float = 86_400.0,
    now: float | None = None,
) -> QueueBoard:
    """A snapshot: ``QueueStatus`` now, plus the journal's figures for the last ``period`` seconds."""
    moment = time.time() if now is None else now
    reply = await client.send("QueueStatus")
    board = QueueBoard()
    board.seed(reply.events, moment)
    if journal is not None:
        since = moment - period
        board.attach_stats(await journal.stats(since=since, until=moment), since, moment)
    return board


def _update_agent(agent: Agent, event: Event) -> None:
    agent.name = event.get("MemberName") or event.get("Name") or agent.name
    status = _int(event.get("Status"))
    if status is not None:
        agent.status = status
    if event.get("Paused") is not None:
        agent.paused = event.get("Paused") in ("1", "true", "yes")
        agent.paused_reason = event.get("PausedReason", "") if agent.paused else ""
    agent.in_call = event.get("InCall", "0") == "1"
    agent.calls_taken = _int(event.get("CallsTaken")) or agent.calls_taken
    agent.penalty = _int(event.get("Penalty")) or agent.penalty


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and text != "" else None
    except ValueError:
        return None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None and text != "" else None
    except ValueError:
        return None


def _clean(text: str | None) -> str:
    return "" if text is None or text == "<unknown>" else text
