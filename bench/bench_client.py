"""Client figures against the simulated PBX (a script, not a test): prints a Markdown table.

    python bench/bench_client.py [--actions 500] [--events 300]

* actions/s over one kept-alive HTTP connection vs a new connection per request (and their ratio);
* actions/s over AMI TCP, one at a time and 32 in flight (ActionID correlation);
* event → callback delay (p50/p99) over AMI TCP and over AJAM WaitEvent.

The simulator runs in its own thread (its own event loop), the client in the main thread.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ajam.client import ManagerClient, create_client
from ajam.protocol.message import Event
from ajam.sim.server import running_simulator


async def actions_per_second(client: ManagerClient, count: int, in_flight: int = 1) -> float:
    semaphore = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with semaphore:
            await client.send("Ping")

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def event_delays(
    client: ManagerClient,
    publish: Callable[[list[tuple[str, str]]], Awaitable[None]],
    count: int,
    spacing: float,
) -> list[float]:
    delays: list[float] = []
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.get("UserEvent") == "bench":
            delays.append(time.perf_counter() - float(event["SentAt"]))
            if len(delays) >= count:
                done.set()

    client.on("UserEvent", on_event)
    await asyncio.sleep(0.5)  # let the WaitEvent loop settle
    for index in range(count):
        headers = [
            ("Event", "UserEvent"),
            ("Privilege", "user,all"),
            ("UserEvent", "bench"),
            ("Sequence", str(index)),
            ("SentAt", repr(time.perf_counter())),
        ]
        await publish(headers)
        await asyncio.sleep(spacing)
    try:
        await asyncio.wait_for(done.wait(), 30)
    except TimeoutError:
        pass
    return delays


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(sim: Any, actions: int, events: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    async def publish(headers: list[tuple[str, str]]) -> None:
        await asyncio.wrap_future(sim.call_soon(sim.publish, headers))

    async with create_client(sim.url("rawman")) as kept:
        kept_rate = await actions_per_second(kept, actions)
        connections = kept.stats.http_connections
    async with create_client(sim.url("rawman"), keep_alive=False) as fresh:
        fresh_rate = await actions_per_second(fresh, actions)
        fresh_connections = fresh.stats.http_connections
    rows.append(
        (f"AJAM rawman, one kept-alive connection ({connections} used)", f"{kept_rate:,.0f} actions/s")
    )
    rows.append(
        (
            f"AJAM rawman, new connection per request ({fresh_connections} used)",
            f"{fresh_rate:,.0f} actions/s",
        )
    )
    rows.append(("keep-alive speed-up (ratio)", f"{kept_rate / fresh_rate:.2f}x"))

    async with create_client(sim.url("ami"), keepalive=None) as tcp:
        rows.append(
            ("AMI TCP, one action at a time", f"{await actions_per_second(tcp, actions):,.0f} actions/s")
        )
        rows.append(
            (
                "AMI TCP, 32 actions in flight",
                f"{await actions_per_second(tcp, actions * 2, in_flight=32):,.0f} actions/s",
            )
        )

    for label, url, options in (
        ("AMI TCP", sim.url("ami"), {"keepalive": None}),
        ("AJAM WaitEvent", sim.url("rawman"), {}),
    ):
        async with create_client(url, **options) as client:
            delays = await event_delays(client, publish, events, spacing=0.01)
        ms = [d * 1000 for d in delays]
        rows.append(
            (
                f"event → callback, {label} ({len(ms)}/{events} received)",
                (
                    f"p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, "
                    f"mean {statistics.fmean(ms) if ms else float('nan'):.2f} ms"
                ),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=500)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    with running_simulator() as sim:
        rows = asyncio.run(run(sim, args.actions, args.events))
    print("| measurement | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
