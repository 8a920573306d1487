"""Many WebSocket clients of the gateway's push feed in one process, each checking what it is sent.

A client process (:func:`run_clients`, the target of a ``multiprocessing`` process) opens one
``/api/ws`` connection per :class:`ClientSpec` (API token auth, the ``websockets`` library), checks the
``hello`` frame, then reads every envelope until the end marker (an envelope of type :data:`MARKER` that
the test publishes into the hub once the run is over). Each client keeps a :class:`ClientReport`:

* for an operator (``extension`` set), every envelope that is not about its own extension's calls is a
  **violation** (a foreign call, a ``queue`` board, a call envelope without extensions);
* the ``ended`` call ids with their cursors, the ``gap`` envelopes, the ``pbx`` status envelopes with
  their receive times;
* whether the server closed the connection before the client was done (the test expects never).

Push latency (receive time minus the envelope's ``at``, set when the hub published it) is collected per
process for operators and supervisors separately.

The process talks to the test over a pipe: it sends ``("connected", ConnectSummary)`` once every client
is connected (or failed), waits for ``"collect"``, then lets the clients read until the marker (at most
``collect_timeout`` seconds) and sends ``("reports", ProcessReport)``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

MARKER = "load-test-end"  # the end-of-run envelope type (published by the test, seen by everyone)
CALL_TYPES = frozenset({"ringing", "answered", "ended"})
CONNECT_BATCH = 50  # connections opened before a short pause (a burst of 1,000 handshakes at once
CONNECT_PAUSE = 0.02  # only fills the listen backlog and the gateway's token look-ups)


@dataclass(frozen=True)
class ClientSpec:
    name: str  # the token's name; the hello frame says ``token:<name>``
    token: str
    extension: str | None  # an operator's own phone; None: a supervisor (sees every call)


@dataclass
class ClientReport:
    name: str
    extension: str | None
    connected: bool = False
    error: str = ""  # why it could not connect, or why its hello frame was wrong
    connect_seconds: float = 0.0
    hello_cursor: int | None = None
    envelopes: int = 0
    ended: dict[str, int] = field(default_factory=dict)  # call id -> cursor of its ``ended`` envelope
    gaps: list[tuple[int, int, int, str]] = field(default_factory=list)  # (after, cursor, dropped, reason)
    pbx: list[tuple[str, float, float]] = field(default_factory=list)  # (state, at, received), wall time
    queue_envelopes: int = 0
    ringing_at: list[float] = field(default_factory=list)  # supervisors: ``at`` of each ringing envelope
    violations: list[str] = field(default_factory=list)
    closed_by_server: str = ""  # "code reason" when the server ended the connection first
    got_marker: bool = False

    @property
    def supervisor(self) -> bool:
        return self.extension is None


@dataclass
class ConnectSummary:
    connected: int
    failed: list[str]  # "name: error"
    seconds: float  # from the first connection attempt to the last hello


@dataclass
class ProcessReport:
    clients: list[ClientReport]
    operator_latencies: list[float]
    supervisor_latencies: list[float]
    cpu_seconds: float


def raise_fd_limit(needed: int) -> bool:
    """Raise this process's soft limit of open files to ``needed`` (up to the hard limit); whether it is
    now at least ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return True
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target >= needed


def involved_numbers(call: dict[str, Any]) -> set[str]:
    """Every number that took part in a call as the push envelopes carry it (``Call.to_json``)."""
    numbers = {
        (call.get("caller") or {}).get("number"),
        (call.get("callee") or {}).get("number"),
        call.get("answered_by"),
        *(call.get("rang") or ()),
        *(call.get("extension_outcomes") or {}),
    }
    return {str(number) for number in numbers if number}


def foreign(envelope: dict[str, Any], extension: str) -> str | None:
    """Why an operator bound to ``extension`` must not have received ``envelope`` (None: it may)."""
    kind = envelope.get("type")
    extensions = envelope.get("extensions") or []
    if kind == "queue":
        return "the queue board"
    if kind not in CALL_TYPES:
        return None if not extensions or extension in extensions else f"{kind} for {extensions}"
    if extension not in extensions:
        return f"{kind} for extensions {extensions}"
    data = envelope.get("data") or {}
    if kind == "ringing":
        return None if data.get("extension") == extension else f"ringing of {data.get('extension')}"
    if extension == data.get("extension") or extension in involved_numbers(data.get("call") or {}):
        return None
    return f"{kind} of a call of {sorted(involved_numbers(data.get('call') or {}))}"


def _published_at(envelope: dict[str, Any]) -> float | None:
    at = envelope.get("at")
    return datetime.fromisoformat(at).timestamp() if at else None


class _Client:
    def __init__(self, spec: ClientSpec, uri: str, latencies: list[float]) -> None:
        self.spec = spec
        self.uri = uri
        self.latencies = latencies
        self.report = ClientReport(spec.name, spec.extension)
        self.settled = asyncio.Event()  # connected (hello checked) or failed
        self.done = asyncio.Event()  # marker seen, connection lost or failed

    async def run(self) -> None:
        import websockets.exceptions as errors
        from websockets.asyncio.client import connect

        report = self.report
        started = time.monotonic()
        try:
            connection = await connect(
                self.uri,
                additional_headers={"Authorization": f"Bearer {self.spec.token}"},
                open_timeout=60,
                max_size=None,
                compression=None,
            )
        except (OSError, TimeoutError, errors.WebSocketException) as error:
            report.error = f"connect: {error!r}"
            self.settled.set()
            self.done.set()
            return
        try:
            hello = json.loads(await asyncio.wait_for(connection.recv(), 30))
            report.connect_seconds = time.monotonic() - started
            self._check_hello(hello)
            self.settled.set()
            if not report.connected:
                return
            while not report.got_marker:
                self._receive(await connection.recv(), time.time())
        except errors.ConnectionClosed as closed:
            received = closed.rcvd
            report.closed_by_server = f"{received.code} {received.reason}" if received else "no close frame"
        except (OSError, TimeoutError, ValueError) as error:
            report.error = report.error or f"receiving: {error!r}"
        finally:
            self.settled.set()
            self.done.set()
            await connection.close()

    def _check_hello(self, hello: dict[str, Any]) -> None:
        report, spec = self.report, self.spec
        data = hello.get("data") or {}
        role = "supervisor" if spec.extension is None else "operator"
        if hello.get("type") != "hello" or not isinstance(hello.get("cursor"), int):
            report.error = f"first frame is not a hello: {hello!r}"
        elif data.get("username") != f"token:{spec.name}" or data.get("role") != role:
            report.error = f"hello for someone else: {data!r}"
        else:
            report.hello_cursor = hello["cursor"]
            report.connected = True

    def _receive(self, text: str | bytes, received: float) -> None:
        report, extension = self.report, self.spec.extension
        envelope = json.loads(text)
        kind = envelope.get("type")
        report.envelopes += 1
        if kind == MARKER:
            report.got_marker = True
            return
        if kind == "gap":
            data = envelope.get("data") or {}
            report.gaps.append(
                (int(data.get("after", 0)), int(envelope["cursor"]), int(data.get("dropped", 0)), str(data))
            )
            return
        at = _published_at(envelope)
        if at is not None:
            self.latencies.append(received - at)
        if extension is not None:
            why = foreign(envelope, extension)
            if why is not None and len(report.violations) < 20:
                report.violations.append(f"cursor {envelope.get('cursor')}: {why}")
        if kind == "ended":
            call_id = ((envelope.get("data") or {}).get("call") or {}).get("id")
            if call_id:
                report.ended[str(call_id)] = int(envelope["cursor"])
        elif kind == "pbx":
            state = str((envelope.get("data") or {}).get("state"))
            report.pbx.append((state, at or 0.0, received))
        elif kind == "queue":
            report.queue_envelopes += 1
        elif kind == "ringing" and extension is None and at is not None:
            report.ringing_at.append(at)


async def _clients_main(
    pipe: Connection, address: str, specs: list[ClientSpec], collect_timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    operator_latencies: list[float] = []
    supervisor_latencies: list[float] = []
    uri = f"ws://{address}/api/ws"
    clients = [
        _Client(spec, uri, operator_latencies if spec.extension else supervisor_latencies) for spec in specs
    ]
    began = time.monotonic()
    tasks = []
    for index, client in enumerate(clients):
        tasks.append(asyncio.create_task(client.run()))
        if index % CONNECT_BATCH == CONNECT_BATCH - 1:
            await asyncio.sleep(CONNECT_PAUSE)
    await asyncio.gather(*(client.settled.wait() for client in clients))
    failed = [
        f"{client.spec.name}: {client.report.error}" for client in clients if not client.report.connected
    ]
    pipe.send(("connected", ConnectSummary(len(clients) - len(failed), failed, time.monotonic() - began)))
    cpu = time.process_time()
    await loop.run_in_executor(None, pipe.recv)  # "collect": the marker is published
    try:
        await asyncio.wait_for(asyncio.gather(*(client.done.wait() for client in clients)), collect_timeout)
    except TimeoutError:
        pass  # the reports say which clients never saw the marker
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(
        (
            "reports",
            ProcessReport(
                [client.report for client in clients],
                operator_latencies,
                supervisor_latencies,
                time.process_time() - cpu,
            ),
        )
    )


def run_clients(pipe: Connection, address: str, specs: list[ClientSpec], collect_timeout: float) -> None:
    """Process entry: the clients of ``specs`` against the gateway at ``address`` (``host:port``)."""
    raise_fd_limit(len(specs) + 256)
    main = _clients_main(pipe, address, specs, collect_timeout)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
