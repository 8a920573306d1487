"""Click-to-call against the simulator over AMI/TCP and AJAM rawman: the customer answers, the carrier
is busy (numbers ending in 486), the agent is busy (101 already on a call), the agent does not answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ajam.calls.click_to_call import ClickToCallStatus, click_to_call
from ajam.calls.journal import AsyncJournal, open_journal
from ajam.calls.model import Outcome
from ajam.calls.notify import CallNotification
from ajam.calls.service import CallService
from ajam.calls.tracker import CallTracker
from ajam.client import ManagerClient, connect
from ajam.errors import ActionFailed, HeaderInjection
from ajam.sim.server import SimulatedPbx

SPEED = 20.0
KINDS = ["ami", "rawman"]


@asynccontextmanager
async def live_service(
    kind: str, tmp_path: Path
) -> AsyncIterator[tuple[SimulatedPbx, ManagerClient, CallService]]:
    options: dict[str, Any] = {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}
    journal = AsyncJournal(open_journal(str(tmp_path / "calls.db")))
    try:
        async with SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
            async with await connect(sim.url(kind), **options) as client:
                async with CallService(client, journal=journal, clock=sim.pbx.clock.now) as service:
                    yield sim, client, service
    finally:
        await journal.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_customer_answers(kind: str, tmp_path: Path) -> None:
    async with live_service(kind, tmp_path) as (_sim, client, service):
        result = await click_to_call(client, service, extension="101", number="4951112233")
        assert result.status is ClickToCallStatus.ANSWERED and result.answered
        assert result.call is not None and result.call.live  # known at the answer, before the end
        assert result.call_id == result.call.id
        final = await result.final(timeout=10)
        assert service.journal is not None
        stored = await service.journal.get(result.call_id)
    assert final is not None and final.outcome is Outcome.ANSWERED
    assert final.answered_by == "84951112233" and final.caller.number == "101"  # the number as dialed
    assert str(final.direction) == "outbound"
    assert stored is not None and stored.outcome is Outcome.ANSWERED


@pytest.mark.parametrize("kind", KINDS)
async def test_carrier_busy(kind: str, tmp_path: Path) -> None:
    async with live_service(kind, tmp_path) as (_sim, client, service):
        result = await click_to_call(client, service, extension="101", number="4951110486")
        final = await result.final(timeout=10)
    assert result.status is ClickToCallStatus.BUSY, result.reason
    assert final is not None and final.outcome is Outcome.BUSY and final.id == result.call_id


@pytest.mark.parametrize("kind", KINDS)
async def test_agent_busy(kind: str, tmp_path: Path) -> None:
    async with live_service(kind, tmp_path) as (sim, client, service):
        answered = asyncio.Event()

        def on_answer(notification: CallNotification) -> None:
            answered.set()

        service.subscribe(on_answer, extensions={"101"}, kinds={"answered"})
        other_call = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_answered_recorded"))
        await asyncio.wait_for(answered.wait(), 10)
        result = await click_to_call(client, service, extension="101", number="4951112233")
        final = await result.final(timeout=10)
        await other_call
    assert result.status is ClickToCallStatus.AGENT_BUSY
    assert "Reason 0" in result.reason
    assert final is not None and final.outcome is Outcome.BUSY and final.id == result.call_id


async def test_agent_does_not_answer(tmp_path: Path) -> None:
    async with live_service("ami", tmp_path) as (_sim, client, service):
        result = await click_to_call(
            client,
            service,
            extension="noanswer",
            number="sink",
            channel_template="Local/{extension}@test",
            context="test",
            dial_prefix="",
            timeout=2,
        )
    assert result.status is ClickToCallStatus.AGENT_NO_ANSWER
    assert "Reason 3" in result.reason and "rang without an answer" in result.reason


@pytest.mark.parametrize("kind", KINDS)
async def test_with_a_bare_tracker(kind: str) -> None:
    options: dict[str, Any] = {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}
    async with SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
        async with await connect(sim.url(kind), **options) as client:
            tracker = CallTracker()
            result = await click_to_call(client, tracker, extension="101", number="4951112233")
            final = await result.final(timeout=10)
    assert result.status is ClickToCallStatus.ANSWERED
    assert final is not None and final.outcome is Outcome.ANSWERED and tracker.live_calls() == []


@pytest.mark.parametrize("field", ["extension", "number"])
async def test_line_breaks_are_refused_before_anything_is_sent(field: str, tmp_path: Path) -> None:
    async with live_service("ami", tmp_path) as (_sim, client, service):
        sent = client.stats.actions_sent
        values = {"extension": "101", "number": "4951112233"}
        values[field] += "\r\nAction: Hangup\r\nChannel: PJSIP/102"
        with pytest.raises(HeaderInjection, match=f"the {field}"):
            await click_to_call(client, service, **values)
        assert client.stats.actions_sent == sent


async def test_an_originate_the_pbx_refuses_raises(tmp_path: Path) -> None:
    async with live_service("ami", tmp_path) as (_sim, client, service):
        with pytest.raises(ActionFailed, match="Extension does not exist"):
            await click_to_call(client, service, extension="101", number="555", context="nowhere")
