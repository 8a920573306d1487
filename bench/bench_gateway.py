"""Push benchmark: N WebSocket clients on the gateway while the simulator generates calls.

Three kinds of processes share the machine: the simulated PBX with steady traffic (its own process),
the gateway (``create_app``: PBX link, call service, journal, hub, push routes, under uvicorn) in this
process, and the clients (``--client-processes`` asyncio processes with the ``websockets`` library).

The default mix is a call centre: the simulator has a pool of ``--agents`` SIP phones (1001, 1002...;
``Pbx(agents=N)``) and its traffic spreads calls over them; each of the ``--clients`` operators is bound
to its own phone, and ``--supervisors`` clients see every call. ``--agents 0`` replays the captured
three phones (101/102/103) instead: operators are bound to them in turn (each sees a third of all
traffic). Clients authenticate with API tokens.

Figures: calls/s the simulator started, envelopes/s the hub published, frames/s the clients received,
push latency (receive time minus the envelope's ``at``, set when the hub published it) p50/p99/max,
and separately the PBX→hub delay: the simulator's wall time of a call's first DialBegin/AgentCalled to the
``at`` of the call's first ``ringing`` envelope (AMI over TCP, parsing, call tracking, publish).

    python bench/bench_gateway.py --quick
    python bench/bench_gateway.py                       # 1000 operators + 10 supervisors, 200 calls/s, 20 s
    python bench/bench_gateway.py --agents 0 --clients 900 --supervisors 100 --calls-per-second 100
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

CAPTURED_PHONES = ("101", "102", "103")
FIRST_AGENT = 1001


# ------------------------------------------------------------------------------------------ simulator
def run_simulator(pipe: Connection, calls_per_minute: float, speed: float, agents: int) -> None:
    """The simulated PBX; records the wall time of each call's first DialBegin/AgentCalled (by Linkedid)."""
    from ajam.sim.pbx import Pbx
    from ajam.sim.server import SimulatedPbx

    first_ring: dict[str, float] = {}

    def on_event(headers: list[tuple[str, str]]) -> None:
        fields = dict(headers)
        if fields.get("Event") in ("DialBegin", "AgentCalled"):  # where the gateway's tracker sees ringing
            first_ring.setdefault(fields.get("Linkedid", ""), time.time())

    async def main() -> None:
        pbx = Pbx(seed=7, speed=speed, agents=agents)
        sim = SimulatedPbx(speed=speed, seed=7, pbx=pbx)
        await sim.start()
        pipe.send(sim.url("ami"))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, pipe.recv)  # "go"
        pbx.subscribe(on_event)
        started, cpu = pbx.traffic.started, time.process_time()
        pbx.start_traffic(calls_per_minute)
        await loop.run_in_executor(None, pipe.recv)  # "stop"
        await pbx.stop_traffic()
        pipe.send((pbx.traffic.started - started, first_ring, time.process_time() - cpu))
        await sim.stop()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------ clients
def run_clients(
    pipe: Connection, address: str, tokens: list[tuple[str, bool]], seconds: float, batch: bool
) -> None:
    """``tokens``: (token, is a supervisor's)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    import websockets.exceptions as websockets_errors
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    counts = {"events": 0, "supervisor_events": 0, "frames": 0, "gaps": 0, "connected": 0, "failed": 0}

    async def client(token: str, supervisor: bool, start: asyncio.Event, stop: asyncio.Event) -> None:
        try:
            async with connect(
                f"ws://{address}/api/ws" + ("?batch=true" if batch else ""),
                additional_headers={"Authorization": f"Bearer {token}"},
                open_timeout=120,
                max_size=None,
                compression=None,
            ) as connection:
                await connection.recv()  # hello
                counts["connected"] += 1
                await start.wait()
                while True:
                    text = await connection.recv()
                    received = time.time()
                    if stop.is_set():
                        return
                    counts["frames"] += 1
                    frame = json.loads(text)
                    for envelope in frame if isinstance(frame, list) else [frame]:
                        if envelope["type"] == "gap":
                            counts["gaps"] += 1
                            continue
                        if envelope.get("at"):
                            published = datetime.fromisoformat(envelope["at"]).timestamp()
                            latencies.append(received - published)
                        counts["events"] += 1
                        counts["supervisor_events"] += supervisor
        except (OSError, TimeoutError, ValueError, KeyError, websockets_errors.WebSocketException):
            counts["failed"] += 1

    async def main() -> None:
        start, stop = asyncio.Event(), asyncio.Event()
        tasks = []
        for index, (token, supervisor) in enumerate(tokens):
            tasks.append(asyncio.create_task(client(token, supervisor, start, stop)))
            if index % 50 == 49:
                await asyncio.sleep(0.05)
        while counts["connected"] + counts["failed"] < len(tokens):
            await asyncio.sleep(0.05)
        pipe.send(("connected", counts["connected"]))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "go"
        start.set()
        began, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        stop.set()
        elapsed = time.monotonic() - began
        cpu = time.process_time() - cpu
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send(("done", latencies, dict(counts), elapsed, cpu))

    asyncio.run(main())


# ------------------------------------------------------------------------------------------ gateway
def make_tokens(db: str, operators: int, supervisors: int, agents: int) -> list[str]:
    """Supervisors first, then operators: operator i is bound to agent 1001 + i (modulo ``agents``), or
    with ``agents == 0`` to the captured phones 101/102/103 in turn."""
    from ajam.gateway.users import open_store

    store = open_store(db)
    try:
        tokens = [store.create_token(f"bench-super-{index}", "supervisor")[0] for index in range(supervisors)]
        for index in range(operators):
            if agents:
                extension = str(FIRST_AGENT + index % agents)
            else:
                extension = CAPTURED_PHONES[index % len(CAPTURED_PHONES)]
            tokens.append(store.create_token(f"bench-op-{index}", "operator", [extension])[0])
        return tokens
    finally:
        store.close()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def envelope_call_id(data: Any) -> str | None:
    call = data.get("call") if isinstance(data, dict) else None
    return str(call.get("id")) if isinstance(call, dict) and call.get("id") else None


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from ajam.gateway.app import create_app
    from ajam.gateway.hub import Envelope
    from ajam.gateway.settings import GatewaySettings

    folder = tempfile.mkdtemp(prefix="ajam-bench-gw-")
    db = os.path.join(folder, "journal.sqlite")
    sim_pipe, sim_end = multiprocessing.Pipe()
    simulator = multiprocessing.Process(
        target=run_simulator,
        args=(sim_end, args.calls_per_second * 60 / args.speed, args.speed, args.agents),
        daemon=True,
    )
    simulator.start()
    pbx_url = sim_pipe.recv()
    tokens = make_tokens(db, args.clients, args.supervisors, args.agents)
    app = create_app(GatewaySettings(pbx_url=pbx_url, db=db, host="127.0.0.1", port=0))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", backlog=4096, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    address = f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    await asyncio.wait_for(app.state.link.wait_ready(60), 65)
    if args.gc_freeze:  # what a serving process can do once it is up: startup objects leave the GC's scans
        gc.freeze()

    marked = [(token, index < args.supervisors) for index, token in enumerate(tokens)]
    share = [marked[index :: args.client_processes] for index in range(args.client_processes)]
    pipes, workers = [], []
    for part in share:
        mine, theirs = multiprocessing.Pipe()
        worker = multiprocessing.Process(
            target=run_clients, args=(theirs, address, part, args.seconds, args.batch), daemon=True
        )
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    loop = asyncio.get_running_loop()
    connected = 0
    for pipe in pipes:
        connected += (await loop.run_in_executor(None, pipe.recv))[1]
    hub = app.state.hub
    first_ringing: dict[str, float] = {}

    def on_envelope(envelope: Envelope) -> None:
        if envelope.type == "ringing":
            call_id = envelope_call_id(envelope.data)
            if call_id is not None and call_id not in first_ringing:
                first_ringing[call_id] = datetime.fromisoformat(envelope.at).timestamp()

    remove_listener = hub.add_listener(on_envelope)
    lags: list[float] = []
    collections: list[tuple[int, float]] = []
    collection_started = [0.0]

    def on_collection(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collection_started[0] = time.perf_counter()
        else:
            collections.append((info["generation"], time.perf_counter() - collection_started[0]))

    async def watch_loop() -> None:
        """Event-loop lag of the gateway: how late a 10 ms sleep wakes up."""
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    gc.callbacks.append(on_collection)
    watcher = asyncio.create_task(watch_loop())
    published_before, dropped_before = hub.published, hub.dropped
    sim_pipe.send("go")
    for pipe in pipes:
        pipe.send("go")
    began, cpu = time.monotonic(), time.process_time()
    results = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
    elapsed = time.monotonic() - began
    gateway_cpu = time.process_time() - cpu
    published = hub.published - published_before
    dropped = hub.dropped - dropped_before
    sim_pipe.send("stop")
    calls, sim_rings, sim_cpu = await loop.run_in_executor(None, sim_pipe.recv)
    remove_listener()
    watcher.cancel()
    gc.callbacks.remove(on_collection)
    slowest_collection = max(collections, key=lambda item: item[1], default=(0, 0.0))
    server.should_exit = True
    await asyncio.wait_for(serving, 30)
    for worker in workers:
        worker.join(10)
    simulator.join(10)
    latencies = [value for result in results for value in result[1]]
    pbx_delays = [at - sim_rings[call] for call, at in first_ringing.items() if call in sim_rings]
    events = sum(result[2]["events"] for result in results)
    return {
        "clients": connected,
        "failed": sum(result[2]["failed"] for result in results),
        "calls": calls,
        "calls_per_s": calls / elapsed,
        "published_per_s": published / elapsed,
        "delivered_per_s": events / elapsed,
        "frames_per_s": sum(result[2]["frames"] for result in results) / elapsed,
        "events": events,
        "per_supervisor_per_s": sum(result[2]["supervisor_events"] for result in results)
        / max(1, args.supervisors)
        / elapsed,
        "gaps": sum(result[2]["gaps"] for result in results),
        "dropped": dropped,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "mean_ms": (statistics.fmean(latencies) * 1000) if latencies else float("nan"),
        "pbx_p50_ms": percentile(pbx_delays, 0.50) * 1000,
        "pbx_p99_ms": percentile(pbx_delays, 0.99) * 1000,
        "pbx_max_ms": max(pbx_delays, default=float("nan")) * 1000,
        "pbx_samples": len(pbx_delays),
        "cpu": {
            "simulator": sim_cpu / elapsed,
            "gateway": gateway_cpu / elapsed,
            "clients": sum(result[4] for result in results) / elapsed,
        },
        "seconds": elapsed,
        "loop_lag_p99_ms": percentile(lags, 0.99) * 1000,
        "loop_lag_max_ms": max(lags, default=float("nan")) * 1000,
        "gc_collections": len(collections),
        "gc_slowest_ms": slowest_collection[1] * 1000,
        "gc_slowest_generation": slowest_collection[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000, help="operator clients (one phone each)")
    parser.add_argument("--supervisors", type=int, default=10, help="supervisor clients (see every call)")
    parser.add_argument(
        "--agents",
        type=int,
        default=None,
        help="simulated phones 1001.. the calls spread over (default: one per operator; 0: 101/102/103)",
    )
    parser.add_argument("--calls-per-second", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed (call scripts run faster)")
    parser.add_argument("--client-processes", type=int, default=1)
    parser.add_argument(
        "--batch",
        action="store_true",
        help="clients ask for ?batch=true (a JSON array of envelopes per frame)",
    )
    parser.add_argument("--quick", action="store_true", help="100 operators, 2 supervisors, 20 calls/s, 5 s")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() in the gateway once it is up, before clients connect (shorter full collections)",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.supervisors, args.calls_per_second, args.seconds = 100, 2, 20.0, 5.0
    if args.agents is None:
        args.agents = max(args.clients, 1)
    result = asyncio.run(bench(args))
    print(
        "| operators + supervisors | agents | calls/s | envelopes published/s | envelopes delivered/s "
        "| frames/s | p50 ms | p99 ms | max ms | PBX→hub p50/p99 ms | gaps | dropped |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['clients'] - min(args.supervisors, result['clients'])} + {args.supervisors} "
        f"| {args.agents or '101-103'} | {result['calls_per_s']:.1f} | {result['published_per_s']:.0f} "
        f"| {result['delivered_per_s']:.0f} | {result['frames_per_s']:.0f} | {result['p50_ms']:.1f} "
        f"| {result['p99_ms']:.1f} | {result['max_ms']:.1f} "
        f"| {result['pbx_p50_ms']:.1f} / {result['pbx_p99_ms']:.1f} | {result['gaps']} | {result['dropped']} |"
    )
    cpu = result["cpu"]
    print(
        f"\nCPU (cores): simulator {cpu['simulator']:.2f}, gateway {cpu['gateway']:.2f}, "
        f"clients {cpu['clients']:.2f}; envelopes/s per supervisor {result['per_supervisor_per_s']:.0f}; PBX→hub samples {result['pbx_samples']}, max {result['pbx_max_ms']:.1f} ms"
    )
    print(
        f"gateway event-loop lag p99 {result['loop_lag_p99_ms']:.1f} ms, max {result['loop_lag_max_ms']:.1f} ms; "
        f"{result['gc_collections']} GC runs, slowest {result['gc_slowest_ms']:.1f} ms "
        f"(generation {result['gc_slowest_generation']})"
    )
    if args.json:
        print(json.dumps(result))
    if result["failed"]:
        print(f"\n{result['failed']} clients could not connect", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
