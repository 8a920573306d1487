"""The web gateway with 1,000 WebSocket operators under call load, through a PBX outage (issue 6).

Four kinds of processes split the machine as in production:

* the simulated PBX (:func:`run_simulator`) with a pool of 1,000 SIP phones (``Pbx(agents=1000)``:
  1001..2000) and steady Poisson traffic spread over them;
* the gateway (:func:`run_gateway`): the real ``create_app`` with its journal and users on SQLite in
  ``tmp_path``, served as ``ajam serve`` serves it (:func:`ajam.cli.serve.serve_app`) on a free port of
  127.0.0.1;
* one or two client processes (:mod:`tests.support.ws_load`): 1,000 operators, each with an API token
  bound to its own phone, and a few supervisors, all on ``/api/ws``.

The clients connect while the calls already flow. Mid-run the PBX restarts with a downtime (calls in
progress are lost, as in an Asterisk restart). Once the traffic has stopped the gateway reads its
journal, waits until every call in it has been announced, and publishes an end marker that every client
reads up to. The test then asserts:

* every client connected and got its ``hello``; the server closed none of them (the outage is the
  PBX's, the gateway stays up);
* scope: an operator received nothing about another phone's calls and no queue board; supervisors got
  every call;
* no silent loss: every call in the journal that involved an operator's phone was announced ``ended`` to
  that operator (and to every supervisor) unless a ``gap`` envelope covered it; every call the gateway
  announced as ended is in the journal; the call service dropped no notification on its way to the hub
  (the burst of calls the resync ends after an outage once did: ``ajam.gateway.link.NOTIFICATION_QUEUE``);
* push latency (receive time minus the envelope's ``at``) p99 within :attr:`Plan.latency_p99`;
* every client received ``pbx: disconnected``, then ``pbx: reconnected`` within
  :attr:`Plan.status_bound` seconds of the PBX listening again, and calls kept flowing afterwards;
* the gateway's peak resident memory stays under :attr:`Plan.rss_bound`.

Figures are printed with the prefix ``gateway-load-figures:`` (``pytest -s``). The default run holds
30 calls/s for 15 s with a 1 s outage; ``-m slow`` 200 calls/s for 60 s with a 10 s outage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from pathlib import Path
from typing import Any

import pytest

from ajam.calls.model import Call
from tests.support.memory import resident_bytes
from tests.support.ws_load import (
    MARKER,
    ClientReport,
    ClientSpec,
    ConnectSummary,
    ProcessReport,
    raise_fd_limit,
    run_clients,
)

AGENTS = 1000
FIRST_AGENT = 1001
SEED = 23
MIB = 1024 * 1024
FD_MARGIN = 512  # journal, PBX link, pipes, imports... besides one socket per client
CONNECTED_AGAIN = ("reconnected", "connected")


@dataclass(frozen=True)
class Plan:
    operators: int
    supervisors: int
    calls_per_second: float
    seconds: float  # of traffic once every client is connected
    outage_at: float  # seconds into that time, the PBX stops ...
    downtime: float  # ... for this long
    latency_p99: float  # bound on the push latency p99, seconds
    status_bound: float  # from the PBX listening again to the last client told it is connected again
    rss_bound: int  # the gateway's peak resident memory, bytes
    client_processes: int = 2
    collect_timeout: float = 30.0  # for the clients to read up to the end marker

    @property
    def clients(self) -> int:
        return self.operators + self.supervisors


DEFAULT_PLAN = Plan(
    operators=1000,
    supervisors=5,
    calls_per_second=30.0,
    seconds=15.0,
    outage_at=6.0,
    downtime=1.0,
    latency_p99=1.0,
    status_bound=4.0,
    rss_bound=300 * MIB,
)
SLOW_PLAN = Plan(
    operators=1000,
    supervisors=5,
    calls_per_second=200.0,
    seconds=60.0,
    outage_at=20.0,
    downtime=10.0,
    latency_p99=2.0,
    status_bound=4.0,
    rss_bound=400 * MIB,
)


# ------------------------------------------------------------------------------------------ simulator
def run_simulator(pipe: Connection) -> None:
    """The simulated PBX. Commands: ``("traffic", calls/s)``, ``("restart", downtime)`` (answers the wall
    times it stopped and listened again), ``("stop_traffic", None)`` (answers calls started, CPU seconds),
    ``("close", None)``."""
    from ajam.sim.pbx import Pbx
    from ajam.sim.server import SimulatedPbx

    async def main() -> None:
        pbx = Pbx(seed=SEED, agents=AGENTS)
        async with SimulatedPbx(seed=SEED, pbx=pbx, login_failure_delay=0.0) as sim:
            pipe.send(sim.url("ami"))
            loop = asyncio.get_running_loop()
            cpu = time.process_time()
            while True:
                command, argument = await loop.run_in_executor(None, pipe.recv)
                if command == "traffic":
                    pbx.start_traffic(argument * 60)
                    pipe.send(time.time())
                elif command == "restart":
                    stopped = time.time()
                    await sim.faults.restart(downtime=argument, keep_calls=False)
                    pipe.send((stopped, time.time()))
                elif command == "stop_traffic":
                    await pbx.stop_traffic()
                    pipe.send((pbx.traffic.started, time.process_time() - cpu))
                else:
                    return

    asyncio.run(main())


# ------------------------------------------------------------------------------------------ gateway
def involved(call: Call) -> set[str]:
    """The numbers that took part in a journal call: placed it, were called, rang, answered."""
    numbers = (call.caller.number, call.callee.number, call.answered_by, *call.rang, *call.extension_outcomes)
    return {number for number in numbers if number}


def run_gateway(pipe: Connection, pbx_url: str, db: str, fds: int) -> None:
    """The gateway as ``ajam serve`` runs it, plus a control loop on the pipe. Commands: ``"stats"``,
    ``"finish"`` (snapshot the journal, wait until all of it was announced, publish the end marker),
    ``"stop"`` (SIGTERM to itself: uvicorn's graceful shutdown)."""
    raise_fd_limit(fds)
    asyncio.run(_gateway_main(pipe, pbx_url, db))


async def _gateway_main(pipe: Connection, pbx_url: str, db: str) -> None:
    from ajam.cli.serve import serve_app
    from ajam.gateway.app import create_app
    from ajam.gateway.hub import Envelope
    from ajam.gateway.settings import GatewaySettings

    loop = asyncio.get_running_loop()
    app = create_app(GatewaySettings(pbx_url=pbx_url, db=db))
    started: asyncio.Future[str] = loop.create_future()
    serving = asyncio.create_task(serve_app(app, "127.0.0.1", 0, started.set_result))
    either: list[asyncio.Future[Any]] = [started, serving]
    await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        pipe.send(("failed", repr(serving.exception()) if serving.done() else "not started in 60 s"))
        return
    state = app.state
    hub = state.hub
    ended: dict[str, int] = {}  # call id -> cursor of its ended envelope

    def on_envelope(envelope: Envelope) -> None:
        if envelope.type == "ended":
            ended[str(envelope.data["call"]["id"])] = envelope.cursor

    hub.add_listener(on_envelope)
    if not await state.link.wait_ready(60):
        pipe.send(("failed", f"not connected to the PBX: {state.link.last_error}"))
        return

    def stats() -> dict[str, Any]:
        service, client = state.link.service, state.link.client
        return {
            "rss": resident_bytes(),
            "peak": resident_bytes(field="VmHWM"),
            "subscribers": hub.subscriber_count,
            "published": hub.published,
            "dropped": hub.dropped,
            "service": service.stats.to_json() if service is not None else {},
            # notifications the call service dropped before they reached the hub (the link's subscription)
            "notifications_dropped": sum(sub.dropped for sub in service.subscriptions) if service else 0,
            "client": dataclasses.asdict(client.stats) if client is not None else {},
            "cpu": time.process_time(),
        }

    pipe.send(("ready", started.result().removeprefix("http://").rstrip("/")))
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "stats":
            pipe.send(stats())
        elif command == "finish":
            before = hub.last_cursor  # every call announced up to here must be in the snapshot
            calls = await state.journal.query(limit=None)
            ids = {call.id for call in calls}
            deadline = loop.time() + 10
            while not ids <= ended.keys() and loop.time() < deadline:
                await asyncio.sleep(0.05)
            marker = hub.publish(MARKER, {})
            pipe.send(
                {
                    "calls": [(call.id, sorted(involved(call)), call.started_at) for call in calls],
                    "ended": dict(ended),
                    "before": before,
                    "marker": marker.cursor,
                    "stats": stats(),
                }
            )
        else:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(serving, 30)
            pipe.send(stats())
            return


# ------------------------------------------------------------------------------------------ the run
def expect(pipe: Connection, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise AssertionError(f"no answer from the {what} within {timeout:g} s")
    return pipe.recv()


def make_specs(db: str, plan: Plan) -> list[ClientSpec]:
    """API tokens: supervisors, then operator ``i`` bound to phone ``1001 + i``."""
    from ajam.gateway.users import open_store

    store = open_store(db)
    try:
        specs = []
        for index in range(plan.supervisors):
            name = f"load-super-{index}"
            specs.append(ClientSpec(name, store.create_token(name, "supervisor")[0], None))
        for index in range(plan.operators):
            name, extension = f"load-op-{index}", str(FIRST_AGENT + index)
            specs.append(ClientSpec(name, store.create_token(name, "operator", [extension])[0], extension))
        return specs
    finally:
        store.close()


@contextmanager
def processes(context: SpawnContext) -> Iterator[Callable[..., SpawnProcess]]:
    """``start(target, *args)`` → a started daemon process; any still running at exit is killed."""
    started: list[SpawnProcess] = []

    def start(target: Callable[..., None], *args: Any) -> SpawnProcess:
        process = context.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)


@dataclass
class Run:
    plan: Plan
    connect: list[ConnectSummary]
    reports: list[ProcessReport]
    finish: dict[str, Any]
    gateway_connected: dict[str, Any]  # stats once every client is connected
    gateway_final: dict[str, Any]
    stopped: float  # wall time the PBX stopped
    back: float  # ... and listened again
    traffic_started: float  # wall time
    traffic_stopped: float
    calls_started: int
    simulator_cpu: float

    @property
    def calls_per_second(self) -> float:
        return self.calls_started / (self.traffic_stopped - self.traffic_started)

    @property
    def clients(self) -> list[ClientReport]:
        return [client for report in self.reports for client in report.clients]


def load_run(plan: Plan, tmp_path: Path) -> Run:
    fds = plan.clients + FD_MARGIN
    if not raise_fd_limit(fds):
        pytest.skip(f"needs {fds} open files per process; the hard limit (ulimit -Hn) is lower")
    context = multiprocessing.get_context("spawn")
    db = str(tmp_path / "gateway.sqlite")
    with processes(context) as start:
        sim, theirs = context.Pipe()
        start(run_simulator, theirs)
        pbx_url = expect(sim, 60, "simulator")
        specs = make_specs(db, plan)
        gateway, theirs = context.Pipe()
        start(run_gateway, theirs, pbx_url, db, fds)
        kind, address = expect(gateway, 90, "gateway")
        assert kind == "ready", address
        sim.send(("traffic", plan.calls_per_second))
        traffic_started = expect(sim, 10, "simulator")
        clients = []
        for index in range(plan.client_processes):
            mine, theirs = context.Pipe()
            start(run_clients, theirs, address, specs[index :: plan.client_processes], plan.collect_timeout)
            clients.append(mine)
        connect = [expect(pipe, 120, "client process")[1] for pipe in clients]
        began = time.monotonic()
        gateway.send("stats")
        gateway_connected = expect(gateway, 30, "gateway")
        time.sleep(max(0.0, began + plan.outage_at - time.monotonic()))
        sim.send(("restart", plan.downtime))
        stopped, back = expect(sim, plan.downtime + 60, "simulator")
        time.sleep(max(0.0, began + plan.seconds - time.monotonic()))
        sim.send(("stop_traffic", None))
        calls_started, simulator_cpu = expect(sim, 30, "simulator")
        traffic_stopped = time.time()
        gateway.send("finish")
        finish = expect(gateway, 60, "gateway")
        for pipe in clients:
            pipe.send("collect")
        reports = [expect(pipe, plan.collect_timeout + 60, "client process")[1] for pipe in clients]
        gateway.send("stop")
        gateway_final = expect(gateway, 60, "gateway")
        sim.send(("close", None))
    return Run(
        plan,
        connect,
        reports,
        finish,
        gateway_connected,
        gateway_final,
        stopped,
        back,
        traffic_started,
        traffic_stopped,
        calls_started,
        simulator_cpu,
    )


# ------------------------------------------------------------------------------------------ checks
def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def covered_by_gap(client: ClientReport, cursor: int) -> bool:
    return any(after < cursor <= until for after, until, _dropped, _reason in client.gaps)


@dataclass
class Delivery:
    """The journal against what each client was sent."""

    expected: int = 0  # (client, call) pairs: calls that client had to be told had ended
    missing: list[str] | None = None
    excused: int = 0  # missing, but a gap envelope told the client
    never_announced: list[str] | None = None  # in the journal, never announced as ended
    not_in_journal: list[str] | None = None  # announced as ended, not in the journal


def check_delivery(run: Run) -> Delivery:
    finish = run.finish
    ended: dict[str, int] = finish["ended"]
    journal_ids = {call_id for call_id, _numbers, _started in finish["calls"]}
    operators = {client.extension: client for client in run.clients if client.extension}
    supervisors = [client for client in run.clients if client.supervisor]
    result = Delivery(missing=[], never_announced=[], not_in_journal=[])
    assert result.missing is not None and result.never_announced is not None
    assert result.not_in_journal is not None
    for call_id, numbers, _started in finish["calls"]:
        cursor = ended.get(call_id)
        if cursor is None:
            result.never_announced.append(call_id)
            continue
        audience = [operators[number] for number in numbers if number in operators] + supervisors
        for client in audience:
            if client.hello_cursor is None or cursor <= client.hello_cursor:
                continue  # ended before that client subscribed
            result.expected += 1
            if call_id in client.ended:
                continue
            if covered_by_gap(client, cursor):
                result.excused += 1
            else:
                result.missing.append(f"{client.name} ({client.extension or 'supervisor'}): {call_id}")
    result.not_in_journal = [
        call_id
        for call_id, cursor in ended.items()
        if cursor <= finish["before"] and call_id not in journal_ids
    ]
    return result


@dataclass
class StatusFanOut:
    missing: list[str]  # clients without disconnected-then-connected
    disconnected_spread: list[float]  # receive time minus the envelope's at
    disconnected_after_stop: float  # the disconnected envelope's at minus the PBX stop
    connected_after_back: list[float]  # receive time minus the PBX listening again
    connected_spread: list[float]
    connected_at: float  # the latest at of a connected-again envelope


def check_status(run: Run) -> StatusFanOut:
    result = StatusFanOut([], [], 0.0, [], [], 0.0)
    down_at: list[float] = []
    for client in run.clients:
        states = [(state, at, received) for state, at, received in client.pbx if at >= run.stopped - 1]
        down = next((index for index, item in enumerate(states) if item[0] == "disconnected"), None)
        again = None
        if down is not None:
            again = next(
                (item for item in states[down + 1 :] if item[0] in CONNECTED_AGAIN and item[1] >= run.back),
                None,
            )
        if down is None or again is None:
            result.missing.append(f"{client.name}: {states}")
            continue
        _state, at, received = states[down]
        down_at.append(at)
        result.disconnected_spread.append(received - at)
        result.connected_after_back.append(again[2] - run.back)
        result.connected_spread.append(again[2] - again[1])
        result.connected_at = max(result.connected_at, again[1])
    result.disconnected_after_stop = max(down_at, default=run.stopped) - run.stopped
    return result


def figures_line(run: Run, delivery: Delivery, status: StatusFanOut, label: str) -> str:
    plan = run.plan
    operators = [value for report in run.reports for value in report.operator_latencies]
    supervisors = [value for report in run.reports for value in report.supervisor_latencies]
    everyone = operators + supervisors
    connected = sum(summary.connected for summary in run.connect)
    connect_seconds = max(summary.seconds for summary in run.connect)
    final, at_connect = run.gateway_final, run.gateway_connected
    gateway_cpu = final["cpu"] - at_connect["cpu"]
    client_cpu = sum(report.cpu_seconds for report in run.reports)
    gaps = sum(len(client.gaps) for client in run.clients)
    flowing = sum(1 for client in run.clients for at in client.ringing_at if at > status.connected_at)
    after = sum(
        1 for _id, _numbers, started in run.finish["calls"] if started and started > status.connected_at
    )
    return (
        f"gateway-load-figures: {label}: {connected}/{plan.clients} clients connected in {connect_seconds:.1f} s "
        f"({plan.operators} operators, {plan.supervisors} supervisors, {plan.client_processes} client processes); "
        f"{run.calls_started} calls in {run.traffic_stopped - run.traffic_started:.1f} s = "
        f"{run.calls_per_second:.1f}/s; "
        f"journal {len(run.finish['calls'])} calls, {delivery.expected} (client, ended call) deliveries checked, "
        f"{len(delivery.missing or [])} missing, {delivery.excused} covered by gaps, gaps {gaps}, "
        f"hub dropped {final['dropped']}; envelopes published {final['published']}, delivered "
        f"{len(everyone)}; latency all p50 {percentile(everyone, 0.5) * 1000:.1f} ms "
        f"p99 {percentile(everyone, 0.99) * 1000:.1f} ms max {max(everyone, default=0) * 1000:.1f} ms, "
        f"operators p50 {percentile(operators, 0.5) * 1000:.1f} p99 {percentile(operators, 0.99) * 1000:.1f} ms "
        f"({len(operators)}), supervisors p99 {percentile(supervisors, 0.99) * 1000:.1f} ms; "
        f"outage {plan.downtime:g} s: disconnected published {status.disconnected_after_stop * 1000:.0f} ms "
        f"after the stop, fan-out p50/max {percentile(status.disconnected_spread, 0.5) * 1000:.0f}/"
        f"{max(status.disconnected_spread, default=0) * 1000:.0f} ms; connected again after the PBX was back "
        f"p50 {percentile(status.connected_after_back, 0.5):.2f} s max "
        f"{max(status.connected_after_back, default=0):.2f} s (fan-out max "
        f"{max(status.connected_spread, default=0) * 1000:.0f} ms); after the reconnect {flowing} ringing "
        f"envelopes to supervisors, {after} calls in the journal; gateway RSS {at_connect['rss'] / MIB:.0f} MiB with clients, "
        f"{final['rss'] / MIB:.0f} MiB at the end, peak {final['peak'] / MIB:.0f} MiB; "
        f"CPU s gateway {gateway_cpu:.1f}, simulator {run.simulator_cpu:.1f}, clients {client_cpu:.1f}; "
        f"notifications dropped before the hub {run.finish['stats']['notifications_dropped']}; "
        f"call service {run.finish['stats']['service']}, PBX client {run.finish['stats']['client']}"
    )


def check(run: Run, label: str) -> None:
    plan = run.plan
    clients = run.clients
    delivery = check_delivery(run)
    status = check_status(run)
    print(figures_line(run, delivery, status, label))

    failed = [name for summary in run.connect for name in summary.failed]
    assert not failed, f"{len(failed)} clients could not connect: {failed[:5]}"
    assert len(clients) == plan.clients
    assert run.gateway_connected["subscribers"] >= plan.clients
    closed = [f"{client.name}: {client.closed_by_server}" for client in clients if client.closed_by_server]
    assert not closed, f"{len(closed)} clients disconnected by the server: {closed[:5]}"
    errors = [f"{client.name}: {client.error}" for client in clients if client.error]
    assert not errors, errors[:5]
    no_marker = [client.name for client in clients if not client.got_marker]
    assert not no_marker, f"{len(no_marker)} clients never read up to the end marker: {no_marker[:5]}"

    violations = [
        f"{client.name} ({client.extension}): {client.violations}" for client in clients if client.violations
    ]
    assert not violations, f"{len(violations)} operators got foreign envelopes: {violations[:3]}"
    operators_told = sum(len(client.ended) for client in clients if client.extension)
    assert operators_told > 0, "no operator was told about any call"
    assert sum(client.queue_envelopes for client in clients if client.supervisor) > 0

    assert run.calls_per_second >= plan.calls_per_second / 2, (
        f"the load was {run.calls_per_second:.1f} calls/s"
    )
    assert run.finish["calls"], "the journal is empty"
    assert not delivery.never_announced, f"in the journal, never announced: {delivery.never_announced[:5]}"
    assert not delivery.not_in_journal, (
        f"announced as ended, not in the journal: {delivery.not_in_journal[:5]}"
    )
    assert not delivery.missing, f"{len(delivery.missing)} silent losses: {delivery.missing[:5]}"

    latencies = [
        value for report in run.reports for value in report.operator_latencies + report.supervisor_latencies
    ]
    p99 = percentile(latencies, 0.99)
    assert p99 <= plan.latency_p99, f"push latency p99 {p99 * 1000:.0f} ms > {plan.latency_p99 * 1000:.0f} ms"

    assert not status.missing, f"{len(status.missing)} clients missed the PBX status: {status.missing[:3]}"
    slowest = max(status.connected_after_back)
    assert slowest <= plan.status_bound, (
        f"the last client heard the PBX was back {slowest:.2f} s after it was (bound {plan.status_bound:g} s)"
    )
    # calls kept flowing: every supervisor was told of new calls ringing at (at least half) the rate
    remaining = run.traffic_stopped - status.connected_at
    ringing = [
        sum(1 for at in client.ringing_at if at > status.connected_at)
        for client in clients
        if client.supervisor
    ]
    assert min(ringing) >= plan.calls_per_second * remaining * 0.5, (
        f"ringing envelopes per supervisor after the reconnect: {ringing} ({remaining:.0f} s of traffic)"
    )
    assert any(started > status.connected_at for _id, _numbers, started in run.finish["calls"] if started)
    service = run.finish["stats"]["service"]
    assert service["lost"] == 0 and service["store_failures"] == 0, service
    dropped = run.finish["stats"]["notifications_dropped"]
    assert dropped == 0, f"the call service dropped {dropped} notifications on their way to the hub"
    # no client fell behind: not even the resync burst (every call the outage ended, announced at once)
    # overflowed a supervisor's push queue (ajam.gateway.push.SUBSCRIBER_QUEUE)
    hub_dropped = run.gateway_final["dropped"]
    assert hub_dropped == 0, f"the hub dropped {hub_dropped} envelopes for clients that fell behind"
    peak = run.gateway_final["peak"]
    assert peak <= plan.rss_bound, f"gateway peak RSS {peak / MIB:.0f} MiB > {plan.rss_bound / MIB:.0f} MiB"


@pytest.mark.timeout(180)
def test_1000_websocket_operators_under_load_through_a_pbx_outage(tmp_path: Path) -> None:
    check(load_run(DEFAULT_PLAN, tmp_path), "default")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_1000_websocket_operators_at_200_calls_per_second_through_a_10s_outage(tmp_path: Path) -> None:
    check(load_run(SLOW_PLAN, tmp_path), "slow")
