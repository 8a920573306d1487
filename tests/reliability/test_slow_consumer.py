"""A stalled event consumer never delays action responses; its bounded queue counts and reports drops
(issue 6, faults), over AMI and AJAM rawman.

The consumer's stream (``maxsize`` :data:`QUEUE`) is never read while the simulator bursts
:data:`BURST` events; meanwhile ``Ping`` is sent every 20 ms and its latency measured. Figures are
printed (``pytest -s``) as ``slow-consumer-figures: ...``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import pytest

from ajam.client import NOTICE_GAP, EventStream, ManagerClient, connect
from ajam.protocol.message import Event
from ajam.sim.server import SimulatedPbx

KINDS = ["ami", "rawman"]
QUEUE = 100
BURST = 6000
BURST_RATE = 3000.0  # events per second
LATENCY_MAX = 0.25  # seconds: no Ping may wait longer than this during the burst
LATENCY_P50 = 0.05

pytestmark = pytest.mark.timeout(60)


async def ping_latencies(client: ManagerClient, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        started = time.perf_counter()
        await client.send("Ping", timeout=5)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    return latencies


async def next_item(stream: EventStream, timeout: float) -> Event:
    return await asyncio.wait_for(stream.__anext__(), timeout)


@pytest.mark.parametrize("kind", KINDS)
async def test_stalled_consumer_does_not_delay_actions_and_drops_are_counted(kind: str) -> None:
    async with SimulatedPbx(login_failure_delay=0.0) as sim, await connect(sim.url(kind)) as client:
        client.filter_events("UserEvent")
        stalled = client.events(maxsize=QUEUE)
        bursts: list[Event] = []

        def count_burst(event: Event) -> None:
            if event.get("UserEvent") == "Burst":
                bursts.append(event)

        client.on("UserEvent", count_burst)
        await asyncio.sleep(0.2)  # AJAM: the WaitEvent loop is polling
        baseline = await _baseline(client)
        stop = asyncio.Event()
        pinger = asyncio.create_task(ping_latencies(client, stop))
        await sim.faults.event_burst(BURST, per_second=BURST_RATE)
        await asyncio.sleep(0.5)  # the tail of the burst reaches the client
        stop.set()
        latencies = await pinger
        received = client.stats.events_received - client.stats.events_filtered
        dropped = client.stats.events_dropped
        print(
            f"slow-consumer-figures: {kind} burst={BURST}@{BURST_RATE:g}/s queue={QUEUE} "
            f"received={received} dropped={dropped} pings={len(latencies)} "
            f"baseline_p50={statistics.median(baseline) * 1000:.2f}ms "
            f"p50={statistics.median(latencies) * 1000:.2f}ms max={max(latencies) * 1000:.2f}ms"
        )
        assert len(bursts) == BURST, "every burst event reached the client (a handler saw them all)"
        assert max(latencies) <= LATENCY_MAX and statistics.median(latencies) <= LATENCY_P50
        assert len(latencies) >= 50  # the pings really ran during the burst (2 s at one per ~20 ms)
        # bounded queue: exactly QUEUE kept, the rest dropped and counted
        assert dropped == len(bursts) - QUEUE

        kept = [await next_item(stalled, 1.0) for _ in range(QUEUE)]
        assert all(event.name == "UserEvent" for event in kept)
        # the next event the consumer gets after the drops is preceded by the AjamGap with the count
        await sim.faults.event_burst(1)
        gap = await next_item(stalled, 2.0)
        assert gap.name == NOTICE_GAP and gap.get("Reason") == "queue overflow"
        assert gap.get("Dropped") == str(dropped)
        assert (await next_item(stalled, 2.0)).name == "UserEvent"
        stalled.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_drops_are_reported_without_waiting_for_another_event(kind: str) -> None:
    async with SimulatedPbx(login_failure_delay=0.0) as sim, await connect(sim.url(kind)) as client:
        client.filter_events("UserEvent")
        stalled = client.events(maxsize=QUEUE)
        await asyncio.sleep(0.2)
        await sim.faults.event_burst(QUEUE + 50)
        await _until(lambda: client.stats.events_dropped == 50, 5.0)
        for _ in range(QUEUE):
            await next_item(stalled, 1.0)
        gap = await next_item(stalled, 1.0)
        assert gap.name == NOTICE_GAP and gap.get("Dropped") == "50"


async def _baseline(client: ManagerClient) -> list[float]:
    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        await client.send("Ping", timeout=5)
        latencies.append(time.perf_counter() - started)
    return latencies


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(0.01)
