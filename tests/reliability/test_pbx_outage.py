"""The PBX goes away in the middle of live calls and comes back (issue 6, faults), over AMI and AJAM rawman.

Each run uses the product's default client settings, the real :class:`CallService` and a SQLite journal:

* two live calls (``autoanswer_sink``: answered, then up for 60 s) are tracked when the PBX stops;
* an action in flight when it stops, and one sent while it is down, fail within their timeout with a
  clear error (no action waits forever, no secret in the message);
* once the PBX listens again the client must be back within :data:`RECONNECT_BOUND` seconds, measured
  from the end of the restart to (a) the first notice that makes the service resync (``AjamReconnected``,
  or ``AjamGap`` for AJAM whose session died with the PBX) and (b) the first successful action of a
  second client that keeps trying;
* the calls are resynced: kept calls are still tracked and end later with their real outcome, lost
  ones end as ``unknown_end``; every ended call is in the journal.

The measured figures are printed (``pytest -s``) as ``outage-figures: ...``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ajam.calls.journal import AsyncJournal
from ajam.calls.model import Outcome
from ajam.calls.notify import CallNotification
from ajam.calls.service import CallService
from ajam.client import NOTICE_GAP, NOTICE_RECONNECTED, ManagerClient, connect
from ajam.errors import AjamError, ConnectionFailed
from ajam.protocol.message import Event
from ajam.sim.server import SimulatedPbx

KINDS = ["ami", "rawman"]
RECONNECT_BOUND = 2.0  # seconds from "the PBX listens again" to "the client is back"
ACTION_TIMEOUT = 3.0
SECRET = "s3cret"
LIVE_CALLS = 2


class Ended:
    """Remembers every ``ended`` notification (they are announced only once stored)."""

    def __init__(self) -> None:
        self.calls: dict[str, CallNotification] = {}
        self._changed = asyncio.Event()

    async def __call__(self, notification: CallNotification) -> None:
        self.calls[notification.call.id] = notification
        self._changed.set()

    async def until(self, ids: set[str], timeout: float) -> None:
        async def wait() -> None:
            while not ids <= set(self.calls):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Figures:
    kind: str
    downtime: float
    keep_calls: bool
    notice_after: float | None = None  # first resync-triggering notice after the PBX was back
    reconnected_notice_after: float | None = None  # AjamReconnected itself
    first_action_after: float | None = None  # first successful action of a client that keeps trying
    resynced_after: float | None = None  # the service applied a CoreShowChannels listing again
    inflight_failed_in: float | None = None
    outage_action_failed_in: float | None = None

    def line(self) -> str:
        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}s"

        return (
            f"outage-figures: {self.kind} downtime={self.downtime:g}s keep_calls={self.keep_calls} "
            f"notice={fmt(self.notice_after)} AjamReconnected={fmt(self.reconnected_notice_after)} "
            f"first_action={fmt(self.first_action_after)} resync={fmt(self.resynced_after)} "
            f"inflight_action_failed_in={fmt(self.inflight_failed_in)} "
            f"outage_action_failed_in={fmt(self.outage_action_failed_in)}"
        )


async def first_success_time(client: ManagerClient, stop_at: float) -> float | None:
    """Send ``Ping`` every 20 ms until one succeeds; the loop time it did (``None`` past ``stop_at``)."""
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        try:
            await client.send("Ping", timeout=1.0)
        except AjamError:
            await asyncio.sleep(0.02)
            continue
        return loop.time()
    return None


async def expect_clear_failure(client: ManagerClient, timeout: float) -> float:
    """Send an action to a PBX that is down: it must fail with an AjamError within ``timeout``; the time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AjamError) as failure:
        await asyncio.wait_for(client.send("Ping", timeout=timeout), timeout + 1.0)
    elapsed = loop.time() - started
    message = str(failure.value)
    assert elapsed <= timeout + 0.5, f"the action waited {elapsed:.2f} s (timeout {timeout} s)"
    assert "127.0.0.1" in message and SECRET not in message, message
    return elapsed


async def live_channels(client: ManagerClient) -> list[str]:
    reply = await client.send("CoreShowChannels")
    return [event["Channel"] for event in reply.events if event.name == "CoreShowChannel"]


def call_speed(downtime: float) -> float:
    """Simulator speed at which the ``autoanswer_sink`` calls (up for 60 simulated seconds, then hung up
    by the dialplan) outlive the outage and the reconnect that follows it; the test then ends them with
    a Hangup action so their outcome is known."""
    return 1.0 if downtime < 30 else 0.4


async def outage(kind: str, downtime: float, keep_calls: bool, tmp_path: Path) -> Figures:
    figures = Figures(kind, downtime, keep_calls)
    loop = asyncio.get_running_loop()
    async with (
        SimulatedPbx(speed=call_speed(downtime), login_failure_delay=0.0) as sim,
        await AsyncJournal.open(str(tmp_path / "calls.db")) as journal,
    ):
        client = await connect(sim.url(kind))
        prober = await connect(sim.url(kind))
        notices: list[tuple[str, float]] = []

        def remember(event: Event) -> None:
            notices.append((event.name, loop.time()))

        client.on("Ajam*", remember)
        service = CallService(client, journal=journal, clock=sim.pbx.clock.now)
        ended = Ended()
        service.subscribe(ended, kinds={"ended"})
        async with client, prober, service:
            scenarios = [
                asyncio.create_task(sim.pbx.run_scenario("autoanswer_sink")) for _ in range(LIVE_CALLS)
            ]
            await until(lambda: len(service.live_calls()) == LIVE_CALLS, 10, "the live calls")
            tracked = {call.id for call in service.live_calls()}
            assert all(call.answered_at is not None for call in service.live_calls())

            # an action in flight when the PBX stops fails (the PBX would answer it 0.1 s after the stop;
            # short, as stopping the simulated HTTP server waits for its handlers, lengthening the outage)
            sim.faults.slow_responses(0.2)
            inflight = asyncio.create_task(prober.send("Ping", timeout=ACTION_TIMEOUT))
            await asyncio.sleep(0.1)
            started = loop.time()
            restart = asyncio.create_task(sim.faults.restart(downtime=downtime, keep_calls=keep_calls))
            with pytest.raises(ConnectionFailed) as lost:
                await inflight
            figures.inflight_failed_in = loop.time() - started
            assert figures.inflight_failed_in < 1.0, lost.value
            assert SECRET not in str(lost.value)
            sim.faults.slow_responses(0)

            # an action sent while the PBX is down fails within its timeout with a clear error
            await asyncio.sleep(min(0.3, downtime / 2))
            assert not restart.done()
            figures.outage_action_failed_in = await expect_clear_failure(client, ACTION_TIMEOUT)

            resyncs = service.stats.resyncs
            await restart
            back = loop.time()
            waited = 40.0 if downtime >= 10 else 10.0
            success = await first_success_time(prober, back + waited)
            if success is not None:
                figures.first_action_after = success - back
            await until(lambda: service.stats.resyncs > resyncs, waited, "the resync")
            figures.resynced_after = loop.time() - back
            await service.wait_synced()
            after_back = [(name, at) for name, at in notices if at >= back]
            resync_notices = [at for name, at in after_back if name in (NOTICE_RECONNECTED, NOTICE_GAP)]
            figures.notice_after = resync_notices[0] - back
            reconnected = [at for name, at in after_back if name == NOTICE_RECONNECTED]
            if reconnected:
                figures.reconnected_notice_after = reconnected[0] - back

            # resynced: kept calls still tracked (then ended for real), lost ones ended as unknown_end
            still_live = {call.id for call in service.live_calls()}
            on_pbx = await live_channels(client)
            if keep_calls:
                assert still_live == tracked, (still_live, tracked)
                assert len(on_pbx) == 2 * LIVE_CALLS  # each autoanswer call is a Local channel pair
                for channel in on_pbx[::2]:
                    await client.send("Hangup", {"Channel": channel}, check=False)
            elif not keep_calls:
                assert still_live == set() and on_pbx == []
            await ended.until(tracked, timeout=15)
            for call_id in tracked:
                outcome = ended.calls[call_id].call.outcome
                if call_id in still_live:
                    assert outcome is not Outcome.UNKNOWN_END
                else:
                    assert outcome is Outcome.UNKNOWN_END
            assert service.stats.lost == 0
            await asyncio.gather(*scenarios, return_exceptions=True)

        # every finished call is in the journal, as announced
        for call_id, notification in ended.calls.items():
            stored = await journal.get(call_id)
            assert stored is not None, f"call {call_id} announced as ended but not in the journal"
            assert stored.outcome is notification.call.outcome
    print(figures.line())
    return figures


class ReconnectBoundMissed(AssertionError):
    """The client was not back within RECONNECT_BOUND of the PBX (the clients cap their backoff at
    ajam.client.base.RECONNECT_BACKOFF_MAX for this)."""


def assert_reconnect_bounds(figures: Figures) -> None:
    for figure in (figures.notice_after, figures.reconnected_notice_after, figures.first_action_after):
        if figure is None or figure > RECONNECT_BOUND:
            raise ReconnectBoundMissed(f"not back within {RECONNECT_BOUND:g} s: {figures.line()}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("keep_calls", [True, False], ids=["calls-kept", "calls-lost"])
@pytest.mark.parametrize("kind", KINDS)
async def test_pbx_down_1s_in_the_middle_of_live_calls(kind: str, keep_calls: bool, tmp_path: Path) -> None:
    assert_reconnect_bounds(await outage(kind, 1.0, keep_calls, tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("keep_calls", [True, False], ids=["calls-kept", "calls-lost"])
@pytest.mark.parametrize("kind", KINDS)
async def test_pbx_down_10s_in_the_middle_of_live_calls(kind: str, keep_calls: bool, tmp_path: Path) -> None:
    assert_reconnect_bounds(await outage(kind, 10.0, keep_calls, tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(200)
@pytest.mark.parametrize("keep_calls", [True, False], ids=["calls-kept", "calls-lost"])
@pytest.mark.parametrize("kind", KINDS)
async def test_pbx_down_60s_in_the_middle_of_live_calls(kind: str, keep_calls: bool, tmp_path: Path) -> None:
    assert_reconnect_bounds(await outage(kind, 60.0, keep_calls, tmp_path))


@pytest.mark.timeout(30)
async def test_ajam_session_expiry_mid_stream_is_a_transparent_relogin_with_a_gap(tmp_path: Path) -> None:
    """The PBX forgets the AJAM session while a call is live and events flow: the client logs in again by
    itself, reports the gap (``AjamGap``, not a disconnect), the service resyncs and nothing is lost."""
    loop = asyncio.get_running_loop()
    async with (
        SimulatedPbx(speed=4.0, login_failure_delay=0.0) as sim,
        await AsyncJournal.open(str(tmp_path / "calls.db")) as journal,
        await connect(sim.url("rawman")) as client,
    ):
        notices: list[tuple[Event, float]] = []
        client.on("Ajam*", lambda event: notices.append((event, loop.time())))
        service = CallService(client, journal=journal, clock=sim.pbx.clock.now)
        ended = Ended()
        service.subscribe(ended, kinds={"ended"})
        async with service:
            scenario = asyncio.create_task(sim.pbx.run_scenario("sip_inbound_answered_recorded"))
            await until(lambda: any(c.answered_at for c in service.live_calls()), 10, "the answered call")
            (live,) = service.live_calls()
            resyncs = service.stats.resyncs
            expired_at = loop.time()
            assert sim.faults.expire_http_sessions() >= 1
            reply = await client.send("Ping")  # transparent: renewed and retried once
            action_after = loop.time() - expired_at
            assert reply.ok and client.stats.session_renewals == 1
            await until(lambda: service.stats.resyncs > resyncs, RECONNECT_BOUND, "the resync after the gap")
            gaps = [(event, at) for event, at in notices if event.name == NOTICE_GAP]
            assert gaps and gaps[0][0].get("Reason") == "session expired"
            assert [event.name for event, _ in notices if event.name != NOTICE_GAP] == []  # no disconnect
            assert {call.id for call in service.live_calls()} == {live.id}  # still followed after resync
            await ended.until({live.id}, timeout=15)
            await scenario
        call = ended.calls[live.id].call
        assert call.outcome is Outcome.ANSWERED and call.recording is not None
        stored = await journal.get(live.id)
        assert stored is not None and stored.outcome is Outcome.ANSWERED
        print(
            f"session-expiry-figures: rawman action_after_expiry={action_after:.3f}s "
            f"gap_notice_after={gaps[0][1] - expired_at:.3f}s renewals={client.stats.session_renewals}"
        )
