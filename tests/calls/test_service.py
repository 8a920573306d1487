"""CallService live against the simulator, over AMI/TCP and AJAM rawman: notifications per extension,
durability before announcement, resync after a dropped connection and after a PBX restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Call, Outcome
from ajam.calls.notify import CallNotification
from ajam.calls.service import CallService
from ajam.client import connect
from ajam.errors import JournalError
from ajam.sim.server import SimulatedPbx

SPEED = 20.0
KINDS = ["ami", "rawman"]


def client_options(kind: str) -> dict[str, Any]:
    return {"keepalive": None, "backoff_initial": 0.05} if kind == "ami" else {"wait_timeout": 1}


@asynccontextmanager
async def simulator(speed: float = SPEED) -> AsyncIterator[SimulatedPbx]:
    async with SimulatedPbx(speed=speed, login_failure_delay=0.0) as sim:
        yield sim


class Recorder:
    """A subscriber that remembers what it got and lets tests wait for a notification."""

    def __init__(self) -> None:
        self.got: list[CallNotification] = []
        self._changed = asyncio.Event()

    async def __call__(self, notification: CallNotification) -> None:
        self.got.append(notification)
        self._changed.set()

    def kinds(self) -> list[str]:
        return [n.kind for n in self.got]

    async def until(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[CallNotification]:
        async def wait() -> list[CallNotification]:
            while True:
                found = [n for n in self.got if n.kind == kind]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)


async def scenario_then_idle(sim: SimulatedPbx, names: Sequence[str]) -> None:
    await asyncio.gather(*(sim.pbx.run_scenario(name) for name in names))


@pytest.mark.parametrize("kind", KINDS)
async def test_notifications_per_extension_and_journal_before_ended(kind: str, tmp_path: Path) -> None:
    async with simulator() as sim, await AsyncJournal.open(str(tmp_path / "calls.db")) as journal:
        lookups: list[str] = []

        async def lookup(number: str) -> dict[str, Any] | None:
            lookups.append(number)
            return {"crm_id": 7, "name": "ООО Ромашка"} if number == "79161234567" else None

        async with await connect(sim.url(kind), **client_options(kind)) as client:
            service = CallService(client, journal=journal, contact_lookup=lookup, clock=sim.pbx.clock.now)
            async with service:
                for_101, for_102, everything = Recorder(), Recorder(), Recorder()
                stored_when_announced: list[bool] = []

                async def check_stored(notification: CallNotification) -> None:
                    stored_when_announced.append(await journal.get(notification.call.id) is not None)

                service.subscribe(for_101, extensions={"101"})
                service.subscribe(for_102, extensions={"102"})
                service.subscribe(everything)
                service.subscribe(check_stored, kinds={"ended"})
                await scenario_then_idle(sim, ["sip_inbound_answered_recorded", "sip_queue_answered"])
                await everything.until("ended", 2)
                await for_101.until("ended")
                await for_102.until("ended")
        assert service.stats.resyncs == 1 and service.stats.stored == 2

    # 101 hears only about the inbound call that rang it, with the CRM's contact attached
    assert for_101.kinds() == ["ringing", "answered", "ended"]
    ringing = for_101.got[0]
    assert ringing.extension == "101"
    assert (ringing.caller_number, ringing.caller_name) == ("79161234567", "Мария Иванова")
    assert ringing.contact == {"crm_id": 7, "name": "ООО Ромашка"}
    assert for_101.got[1].call.answered_by == "101"
    ended = for_101.got[2].call
    assert ended.outcome is Outcome.ANSWERED and ended.recording is not None
    assert ended.talk_seconds is not None and abs(ended.talk_seconds - 6.0) <= 1.1
    # 102 only rang in the queue call (103 answered it): ringing, then the end with its own outcome
    assert for_102.kinds() == ["ringing", "ended"]
    assert for_102.got[1].call.queue == "support" and for_102.got[1].call.answered_by == "103"
    assert for_102.got[1].call.extension_outcomes["102"] is Outcome.ANSWERED_ELSEWHERE
    # the catch-all subscriber saw every ringing extension; every call was stored before announced
    assert sorted(n.extension or "" for n in everything.got if n.kind == "ringing") == ["101", "102", "103"]
    assert stored_when_announced == [True, True]
    assert set(lookups) == {"79161234567"} and len(lookups) == 2  # once per call, not per extension


@pytest.mark.parametrize("kind", KINDS)
async def test_dropped_connection_resyncs_and_keeps_the_live_call(kind: str, tmp_path: Path) -> None:
    async with simulator(speed=4.0) as sim, await AsyncJournal.open(str(tmp_path / "calls.db")) as journal:
        async with await connect(sim.url(kind), **client_options(kind)) as client:
            async with CallService(client, journal=journal, clock=sim.pbx.clock.now) as service:
                seen = Recorder()
                service.subscribe(seen)
                running = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_answered_recorded"))
                await seen.until("answered")
                resyncs = service.stats.resyncs
                sim.faults.drop_connections()
                (ended,) = await seen.until("ended", timeout=15)
                await running
                if kind == "ami":  # TCP: the client logged in again and the service resynced
                    assert service.stats.resyncs > resyncs
                assert service.live_calls() == []
        stored = await journal.get(ended.call.id)
    call = ended.call
    assert call.outcome is Outcome.ANSWERED and call.answered_by == "101"
    assert stored is not None and stored.outcome is Outcome.ANSWERED


async def test_restart_without_calls_ends_them_as_unknown_end_and_journals_them(tmp_path: Path) -> None:
    async with simulator() as sim, await AsyncJournal.open(str(tmp_path / "calls.db")) as journal:
        async with await connect(sim.url("ami"), **client_options("ami")) as client:
            async with CallService(client, journal=journal, clock=sim.pbx.clock.now) as service:
                seen = Recorder()
                service.subscribe(seen)
                running = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_answered_recorded"))
                await seen.until("answered")
                await sim.faults.restart(keep_calls=False)
                (ended,) = await seen.until("ended", timeout=15)
                await asyncio.gather(running, return_exceptions=True)
        stored = await journal.query(outcome="unknown_end")
    assert ended.call.outcome is Outcome.UNKNOWN_END and ended.call.answered_by == "101"
    assert [call.id for call in stored] == [ended.call.id]


async def test_attaching_mid_call_adopts_it(tmp_path: Path) -> None:
    async with simulator() as sim:
        running = asyncio.create_task(sim.pbx.run_scenario("sip_internal"))
        await asyncio.sleep(5.0 / SPEED)  # 102 answered at ~3 s (virtual), hangs up at ~9 s
        async with await connect(sim.url("ami"), **client_options("ami")) as client:
            async with CallService(client, journal=None, clock=sim.pbx.clock.now) as service:
                (live,) = service.live_calls()
                assert live.answered_by == "102"
                seen = Recorder()
                service.subscribe(seen, kinds={"ended"})
                (ended,) = await seen.until("ended")
        await running
    assert ended.call.id == live.id and ended.call.outcome is Outcome.ANSWERED


class FlakyJournal:
    """Refuses the first ``failures`` writes, then stores in memory."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: dict[str, Call] = {}

    async def store_many(self, calls: Sequence[Call]) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise JournalError("storing a call failed on sqlite:///x.db: database is locked")
        self.stored.update((call.id, call) for call in calls)
        return len(calls)


async def test_a_call_that_cannot_be_stored_is_retried_and_announced_only_once_stored() -> None:
    journal = FlakyJournal(failures=2)
    async with simulator() as sim, await connect(sim.url("ami"), **client_options("ami")) as client:
        service = CallService(
            client,
            journal=journal,  # type: ignore[arg-type]
            clock=sim.pbx.clock.now,
            retry_initial=0.05,
        )
        async with service:
            announced: list[bool] = []

            def on_ended(notification: CallNotification) -> None:
                announced.append(notification.call.id in journal.stored)

            service.subscribe(on_ended, kinds={"ended"})
            await sim.pbx.run_scenario("sip_inbound_busy")
            for _ in range(200):
                if announced:
                    break
                await asyncio.sleep(0.02)
        assert announced == [True]
        assert service.stats.store_failures == 2 and service.stats.lost == 0
        assert service.pending_retries == 0


async def test_a_slow_subscriber_loses_its_own_notifications_only() -> None:
    async with simulator() as sim, await connect(sim.url("ami"), **client_options("ami")) as client:
        async with CallService(client, journal=None, clock=sim.pbx.clock.now) as service:
            release = asyncio.Event()

            async def stuck(notification: CallNotification) -> None:
                await release.wait()

            overflows: list[int] = []
            fast = Recorder()
            unsubscribe = service.subscribe(stuck, maxsize=1, on_overflow=lambda: overflows.append(1))
            service.subscribe(fast)
            await scenario_then_idle(sim, ["sip_ringgroup", "sip_inbound_busy"])
            await fast.until("ended", 2)
            (slow,) = [s for s in service.subscriptions if s.callback is stuck]
            # ring group: ringing 101 and 102, answered by 102, ended; busy: ringing 101, ended
            assert fast.kinds().count("ringing") == 3 and len(fast.got) == 6
            assert slow.dropped == 6 - 2  # one in its callback, one queued
            assert overflows == [1]  # told once, when the dropping started
            release.set()
            while slow.pending:
                await asyncio.sleep(0.01)
            release.clear()  # caught up, then stuck again: a new episode is told again
            await scenario_then_idle(sim, ["sip_ringgroup"])
            await fast.until("ended", 3)
            assert overflows == [1, 1] and slow.dropped == 4 + 4 - 2
            release.set()
            unsubscribe()
            assert service.subscriptions and all(s.callback is not stuck for s in service.subscriptions)


def test_subscribing_to_an_unknown_kind_is_refused() -> None:
    service = CallService(_NoClient(), journal=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown notification kinds"):
        service.subscribe(lambda n: None, kinds={"rang"})


class _NoClient:
    """Stands in for a client in tests that never start the service."""

    connected = False
