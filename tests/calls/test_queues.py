"""The queue board: seeded from QueueStatus, kept live by queue events from the simulator (both
transports), with per-period figures from the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ajam.calls.journal import AsyncJournal, open_journal
from ajam.calls.notify import CallNotification
from ajam.calls.queues import QueueBoard, load_queue_board
from ajam.calls.service import CallService
from ajam.client import connect
from ajam.protocol.message import Event
from ajam.sim.server import SimulatedPbx

SPEED = 20.0


@pytest.mark.parametrize("kind", ["ami", "rawman"])
async def test_waiting_caller_answered_by_103_then_an_abandoned_call(kind: str, tmp_path: Path) -> None:
    options: dict[str, Any] = {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}
    journal = AsyncJournal(open_journal(str(tmp_path / "calls.db")))
    board = QueueBoard()
    async with SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
        async with await connect(sim.url(kind), **options) as client:
            service = CallService(client, journal=journal, queue_board=board, clock=sim.pbx.clock.now)
            async with service:
                seeded = board.to_json(sim.pbx.clock.now())
                ringing: asyncio.Queue[CallNotification] = asyncio.Queue()
                ended: asyncio.Queue[CallNotification] = asyncio.Queue()
                service.subscribe(ringing.put_nowait, kinds={"ringing"})
                service.subscribe(ended.put_nowait, kinds={"ended"})

                answered_call = asyncio.create_task(sim.pbx.run_scenario("sip_queue_answered"))
                for _ in range(2):  # 102 and 103 ring
                    await asyncio.wait_for(ringing.get(), 10)
                await asyncio.sleep(2.0 / SPEED)
                while_ringing = board.to_json(sim.pbx.clock.now())
                await asyncio.wait_for(ended.get(), 10)
                await answered_call
                after_answer = board.to_json(sim.pbx.clock.now())

                await sim.pbx.run_scenario("sip_queue_abandoned")
                await asyncio.wait_for(ended.get(), 10)
                after_abandon = board.to_json(sim.pbx.clock.now())
                snapshot = await load_queue_board(client, journal=journal, now=sim.pbx.clock.now() + 1)
    await journal.close()

    support = named(seeded, "support")
    assert support["name"] == "support" and support["waiting"] == []
    assert {a["interface"]: a["state"] for a in support["agents"]} == {
        "PJSIP/102": "available",
        "PJSIP/103": "available",
    }

    support = named(while_ringing, "support")
    (caller,) = support["waiting"]
    assert (caller["number"], caller["name"], caller["position"]) == ("79161234567", "Мария Иванова", 1)
    assert 1.0 <= caller["wait_seconds"] <= 4.0 and support["longest_wait"] == caller["wait_seconds"]
    assert {a["interface"]: a["state"] for a in support["agents"]} == {
        "PJSIP/102": "ringing",
        "PJSIP/103": "ringing",
    }

    support = named(after_answer, "support")
    assert support["waiting"] == [] and support["answered"] == 1 and support["abandoned"] == 0
    assert support["average_wait"] == 4.0  # AgentConnect HoldTime
    agents = {a["interface"]: a for a in support["agents"]}
    assert agents["PJSIP/103"]["state"] == "available" and agents["PJSIP/103"]["calls_taken"] == 1

    support = named(after_abandon, "support")
    assert support["waiting"] == [] and support["answered"] == 1 and support["abandoned"] == 1

    support = named(snapshot.to_json(sim.pbx.clock.now()), "support")
    period = support["period"]
    assert period["calls"] == 2 and period["answered"] == 1 and period["abandoned"] == 1
    assert period["average_wait"] is not None and abs(period["average_wait"] - 4.0) <= 1.1


def named(board: dict[str, Any], queue: str) -> dict[str, Any]:
    (found,) = [entry for entry in board["queues"] if entry["name"] == queue]
    return found  # type: ignore[no-any-return]


def event(**headers: str) -> Event:
    return Event(list(headers.items()))


def test_pause_and_membership_events() -> None:
    board = QueueBoard()
    board.feed(
        event(Event="QueueMemberAdded", Queue="sales", Interface="PJSIP/104", MemberName="Bob", Status="1"),
        100.0,
    )
    board.feed(
        event(
            Event="QueueMemberPause", Queue="sales", Interface="PJSIP/104", Paused="1", PausedReason="lunch"
        ),
        110.0,
    )
    agent = board.agent("sales", "PJSIP/104")
    assert agent is not None and agent.state == "paused" and agent.paused_reason == "lunch"
    assert board.to_json(130.0)["queues"][0]["agents"][0]["in_state_seconds"] == 20.0  # type: ignore[index]
    board.feed(event(Event="QueueMemberPause", Queue="sales", Interface="PJSIP/104", Paused="0"), 140.0)
    assert agent.state == "available" and agent.paused_reason == ""
    board.feed(event(Event="QueueMemberRemoved", Queue="sales", Interface="PJSIP/104"), 150.0)
    assert board.agent("sales", "PJSIP/104") is None


def test_callers_move_up_when_one_leaves_and_odd_events_are_ignored() -> None:
    board = QueueBoard()
    for position, uid in enumerate(["1.1", "1.2", "1.3"], 1):
        board.feed(event(Event="QueueCallerJoin", Queue="q", Uniqueid=uid, Position=str(position)), 10.0)
    board.feed(event(Event="QueueCallerAbandon", Queue="q", Uniqueid="1.1", Position="1"), 20.0)
    assert [(c.uniqueid, c.position) for c in board.waiting("q")] == [("1.2", 1), ("1.3", 2)]
    assert not board.feed(event(Event="QueueCallerLeave"), 30.0)  # no queue: ignored
    assert board.feed(event(Event="AgentConnect", Queue="q", HoldTime="x"), 30.0)  # bad number: no crash
    assert board.queues["q"].abandoned == 1 and board.queues["q"].answered == 1
