"""Live: the simulator plays each captured scenario, the real clients carry the events to a tracker,
and the calls equal the ones replayed from the real captures (over AMI/TCP and over AJAM rawman)."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import pytest

from ajam.calls.model import Call
from ajam.calls.replay import replay_stream
from ajam.calls.tracker import CallTracker
from ajam.client import connect
from tests.calls.expectations import EXPECTED, Expected
from tests.support.ami_stream import server_stream
from tests.support.transcripts import require_shared

server_module = pytest.importorskip("ajam.sim.server", reason="the simulator is not written yet")

SPEED = 20.0
TOLERANCE = 1.05  # one-second CEL/Uniqueid resolution plus the captures' jitter
# Live, stamps the PBX does not send come from received_at on the simulator's clock, which runs SPEED
# times real time: 100 ms of scheduling delay on a loaded machine moves them by SPEED / 10 seconds.
LIVE_TOLERANCE = TOLERANCE + SPEED * 0.1
LIVE_ROWS = [row for row in EXPECTED if row.scenario is not None]
_UNIQUEID = re.compile(r"\d{9,}\.\d+")


def facts(call: Call) -> dict[str, Any]:
    """What must be equal between a live call and its capture (ids and clock readings differ)."""
    return {
        "outcome": call.outcome,
        "direction": call.direction,
        "caller": (call.caller.number, call.caller.name),
        "callee": (call.callee.number, call.callee.name),
        "answered_by": call.answered_by,
        "rang": list(call.rang),
        "extension_outcomes": dict(call.extension_outcomes),
        "queue": call.queue,
        "transfers": [(t.kind, t.transferer, t.transferee, t.target) for t in call.transfers],
        "recording": _UNIQUEID.sub("<uniqueid>", call.recording) if call.recording else None,
        "cause": call.cause,
    }


def replayed(row: Expected) -> Call:
    path = require_shared() / f"{row.capture}.txt"
    (call,) = replay_stream(io.BytesIO(server_stream(path))).finished
    return call


async def live_calls(kind: str, scenario: str) -> list[Call]:
    """Run one scenario on a fresh simulator; the calls a tracker built from what the client received."""
    async with server_module.SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
        options = {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}
        async with await connect(sim.url(kind), **options) as client:
            stream = client.events()
            tracker = CallTracker()
            ended: list[Call] = []
            run = asyncio.create_task(sim.pbx.run_scenario(scenario))

            async def follow() -> None:
                async for event in stream:
                    for update in tracker.feed(event, received_at=sim.pbx.clock.now()):
                        if update.kind == "ended":
                            ended.append(update.call)
                    if run.done() and ended and not tracker.live_calls():
                        return

            try:
                await asyncio.wait_for(follow(), timeout=15)
            finally:
                stream.close()
                await run
            return ended


@pytest.mark.parametrize("kind", ["ami", "rawman"])
@pytest.mark.parametrize("row", LIVE_ROWS, ids=[row.scenario or "" for row in LIVE_ROWS])
async def test_simulated_scenario_gives_the_call_of_its_capture(kind: str, row: Expected) -> None:
    assert row.scenario is not None
    expected = replayed(row)
    (call,) = await live_calls(kind, row.scenario)
    assert facts(call) == facts(expected)
    for measured, truth in ((call.wait_seconds, row.wait), (call.talk_seconds, row.talk)):
        assert measured is not None and truth is not None
        assert abs(measured - truth) <= LIVE_TOLERANCE, (measured, truth)


async def core_show_channels(client: Any) -> list[Any]:
    reply = await client.send("CoreShowChannels")
    return [event for event in reply.events if event.name == "CoreShowChannel"]


async def wait_virtual(sim: Any, seconds: float) -> None:
    await asyncio.sleep(seconds / SPEED)


@pytest.mark.parametrize("kind", ["ami", "rawman"])
async def test_attaching_in_the_middle_of_live_calls(kind: str) -> None:
    """Connect while one call rings and another is answered: a resync adopts both, the events end them."""
    async with server_module.SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
        ringing = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_noanswer"))
        talking = asyncio.create_task(sim.pbx.run_scenario("sip_internal"))
        await wait_virtual(sim, 6.0)  # sip_internal answered at ~3 s, hangs up at ~9 s; 101 rings until ~16 s
        options = {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}
        async with await connect(sim.url(kind), **options) as client:
            stream = client.events()
            tracker = CallTracker()
            adopted = tracker.resync(await core_show_channels(client), received_at=sim.pbx.clock.now())
            told = sorted((u.kind, u.extension or "") for u in adopted)
            assert told == [("answered", "102"), ("ringing", "101"), ("updated", ""), ("updated", "")]
            assert len(tracker.live_calls()) == 2
            ended: list[Call] = []

            async def follow() -> None:
                async for event in stream:
                    for update in tracker.feed(event, received_at=sim.pbx.clock.now()):
                        if update.kind == "ended":
                            ended.append(update.call)
                    if len(ended) == 2:
                        return

            await asyncio.wait_for(follow(), timeout=15)
            stream.close()
        await asyncio.gather(ringing, talking)
    by_caller = {call.caller.number: call for call in ended}
    internal = by_caller["101"]
    assert str(internal.outcome) == "answered" and internal.answered_by == "102"
    assert str(internal.direction) == "internal"
    inbound = by_caller["79161234567"]
    assert inbound.caller.name == "Мария Иванова" and str(inbound.direction) == "inbound"
    assert str(inbound.outcome) == "no_answer" and inbound.rang == ["101"]
    assert inbound.wait_seconds is not None and abs(inbound.wait_seconds - 15.02) <= TOLERANCE + 1.0


@pytest.mark.parametrize("keep_calls", [True, False])
async def test_reconnect_resync_keeps_survivors_and_closes_vanished_calls(keep_calls: bool) -> None:
    """The PBX restarts during a call (calls lost) or only the connection drops (calls go on)."""
    async with server_module.SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
        tracker = CallTracker()
        async with await connect(sim.url("ami"), keepalive=None) as client:
            stream = client.events()
            scenario = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_answered_recorded"))

            async def until_answered() -> None:
                async for event in stream:
                    if any(u.kind == "answered" for u in tracker.feed(event, sim.pbx.clock.now())):
                        return

            await asyncio.wait_for(until_answered(), timeout=10)
            stream.close()
        await sim.restart(keep_calls=keep_calls)
        async with await connect(sim.url("ami"), keepalive=None) as client:
            stream = client.events()
            updates = tracker.resync(await core_show_channels(client), received_at=sim.pbx.clock.now())
            if not keep_calls:
                (update,) = updates
                assert update.kind == "ended" and str(update.call.outcome) == "unknown_end"
                assert update.call.answered_by == "101" and tracker.live_calls() == []
                scenario.cancel()
                await asyncio.gather(scenario, return_exceptions=True)
                return
            assert updates == [] and len(tracker.live_calls()) == 1
            ended: list[Call] = []

            async def until_ended() -> None:
                async for event in stream:
                    ended.extend(
                        u.call for u in tracker.feed(event, sim.pbx.clock.now()) if u.kind == "ended"
                    )
                    if ended:
                        return

            await asyncio.wait_for(until_ended(), timeout=10)
            stream.close()
        await scenario
    (call,) = ended
    assert str(call.outcome) == "answered" and call.recording is not None
    assert call.talk_seconds is not None and abs(call.talk_seconds - 6.01) <= TOLERANCE
