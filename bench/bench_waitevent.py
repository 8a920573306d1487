"""Event → handler delay: ajam's AJAM WaitEvent long-poll vs a naive 1 s polling loop (a script, not a test).

Both subscribers log in to the same simulated PBX over ``/asterisk/rawman`` and see the same events:

* **ajam**: ``create_client(rawman URL).on("UserEvent", handler)``; the client keeps one ``WaitEvent``
  long-poll outstanding, which the PBX answers as soon as an event is queued;
* **naive polling**: what many integrations do with plain ``httpx``: log in, then every second send
  ``WaitEvent`` with ``Timeout: 0`` (answered at once with whatever is queued), split the body on blank
  lines and hand the events over.

Events are ``UserEvent``s published at jittered intervals (so they do not line up with the poll period),
each stamped with its send time; the delay is the handler's clock minus that stamp. Prints a Markdown
table (p50/p99/mean/max per subscriber and the polling/WaitEvent ratios) and, with ``--json``, the
figures as one JSON line.

    python bench/bench_waitevent.py --quick     # about 5 s of events
    python bench/bench_waitevent.py             # 20 s of events
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from ajam.client import create_client
from ajam.protocol.message import Event
from ajam.sim.server import running_simulator

BENCH_EVENT = "waitevent-bench"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(delays: list[float], expected: int) -> dict[str, float]:
    ms = [delay * 1000 for delay in delays]
    return {
        "received": len(ms),
        "expected": expected,
        "p50_ms": percentile(ms, 0.50),
        "p99_ms": percentile(ms, 0.99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "max_ms": max(ms, default=float("nan")),
    }


def naive_events(body: str) -> list[dict[str, str]]:
    """How a hand-written integration reads a rawman body: blank-line blocks of ``Key: value`` lines."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            key, _, value = line.partition(": ")
            if key:
                fields[key] = value
        if "Event" in fields:
            events.append(fields)
    return events


async def naive_polling(
    rawman_url: str, period: float, handler: Callable[[dict[str, str]], None], stop: asyncio.Event
) -> None:
    """Log in with a plain httpx client, then poll ``WaitEvent`` (Timeout 0) every ``period`` seconds."""
    parts = urlsplit(rawman_url)
    base = f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"
    async with httpx.AsyncClient() as http:
        login = await http.get(
            base,
            params={
                "action": "Login",
                "username": unquote(parts.username or ""),
                "secret": unquote(parts.password or ""),
            },
        )
        if "Response: Success" not in login.text:
            raise RuntimeError(f"naive poller could not log in (HTTP {login.status_code})")
        while not stop.is_set():
            reply = await http.get(base, params={"action": "WaitEvent", "timeout": "0"})
            for fields in naive_events(reply.text):
                handler(fields)
            try:
                await asyncio.wait_for(stop.wait(), period)
            except TimeoutError:
                pass
        await http.get(base, params={"action": "Logoff"})


async def run(sim: Any, seconds: float, rate: float, period: float, seed: int) -> dict[str, Any]:
    ajam_delays: list[float] = []
    naive_delays: list[float] = []

    def on_ajam(event: Event) -> None:
        if event.get("UserEvent") == BENCH_EVENT:
            ajam_delays.append(time.perf_counter() - float(event["SentAt"]))

    def on_naive(fields: dict[str, str]) -> None:
        if fields.get("UserEvent") == BENCH_EVENT:
            naive_delays.append(time.perf_counter() - float(fields["SentAt"]))

    async def publish(index: int) -> None:
        headers = [
            ("Event", "UserEvent"),
            ("Privilege", "user,all"),
            ("UserEvent", BENCH_EVENT),
            ("Sequence", str(index)),
            ("SentAt", repr(time.perf_counter())),
        ]
        await asyncio.wrap_future(sim.call_soon(sim.publish, headers))

    rawman = sim.url("rawman")
    stop = asyncio.Event()
    jitter = random.Random(seed)
    async with create_client(rawman) as client:
        client.on("UserEvent", on_ajam)
        poller = asyncio.create_task(naive_polling(rawman, period, on_naive, stop))
        await asyncio.sleep(1.5 * period)  # both subscribers logged in and waiting
        count = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            await publish(count)
            count += 1
            await asyncio.sleep(jitter.uniform(0.2, 1.8) / rate)
        await asyncio.sleep(period + 0.5)  # the last poll collects the tail
        stop.set()
        await poller
    ajam, naive = summary(ajam_delays, count), summary(naive_delays, count)
    return {
        "events": count,
        "poll_period_s": period,
        "ajam_waitevent": ajam,
        "naive_polling": naive,
        "ratio_p50": naive["p50_ms"] / ajam["p50_ms"],
        "ratio_p99": naive["p99_ms"] / ajam["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 5 s of events")
    parser.add_argument(
        "--seconds", type=float, default=None, help="how long to publish (default 20, quick 5)"
    )
    parser.add_argument("--rate", type=float, default=25.0, help="events per second (jittered)")
    parser.add_argument("--period", type=float, default=1.0, help="the naive loop's poll period in seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    with running_simulator() as sim:
        result = asyncio.run(run(sim, seconds, args.rate, args.period, args.seed))
    print("| subscriber | received | p50 ms | p99 ms | mean ms | max ms |")
    print("|---|---|---|---|---|---|")
    for label, key in (
        ("ajam AJAM WaitEvent (long-poll)", "ajam_waitevent"),
        (f"naive polling, WaitEvent Timeout 0 every {args.period:g} s", "naive_polling"),
    ):
        row = result[key]
        print(
            f"| {label} | {row['received']}/{row['expected']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['mean_ms']:.2f} | {row['max_ms']:.2f} |"
        )
    print(f"| polling / WaitEvent (ratio) | | {result['ratio_p50']:.0f}x | {result['ratio_p99']:.0f}x | | |")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
