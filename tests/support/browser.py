"""Browser tests of the operator panel: a real headless Chromium against a real gateway on the simulator.

* :func:`require_playwright` / :func:`chromium_path` — skip (with the reason and the install hint) when
  the ``playwright`` package or Debian's ``chromium`` is missing; fail instead when
  ``AJAM_REQUIRE_BROWSER=1`` (CI), so a missing install is noticed. Playwright is pointed at the system
  Chromium (``executable_path``): ``playwright install`` is never needed.
* :class:`LiveGateway` — a :class:`SimulatedPbx` in its own thread (``running_simulator``) and the
  gateway (``create_app``) on a real uvicorn server on a free loopback port in another thread, with
  users created in the gateway's user store. ``sim_events`` records every event the simulated PBX
  emits, so a test can see an Originate reach it.
* :func:`artifacts_dir` — where screenshots go: ``$AJAM_ARTIFACTS`` or ``tests/artifacts/`` (git-ignored).
* :data:`PAGE_PROBES` — an init script that logs, with wall-clock times, what the panel shows while the
  PBX comes and goes (the banner, the live call rows, the live snapshots it fetched), so a test can
  measure against the moments :meth:`LiveGateway.restart_pbx` reports;
  :meth:`LiveGateway.drop_push_connections` cuts the pages' WebSockets on the gateway's side.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REQUIRE_ENV = "AJAM_REQUIRE_BROWSER"
CHROMIUM_ENV = "AJAM_CHROMIUM"
ARTIFACTS_ENV = "AJAM_ARTIFACTS"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = "pip install playwright (no 'playwright install') and apt-get install -y chromium"
REPO_ROOT = Path(__file__).resolve().parents[2]

# username: (role, extensions)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "operator101": ("operator", ("101",)),
    "operator102": ("operator", ("102",)),
    "supervisor": ("supervisor", ()),
}


def _unavailable(reason: str) -> None:
    message = f"{reason} ({INSTALL_HINT})"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {message}", pytrace=False)
    pytest.skip(message)


def require_playwright() -> ModuleType:
    """``playwright.sync_api``, or skip/fail with the reason."""
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the playwright Python package is not installed")
        raise  # unreachable: skip/fail raise
    return sync_api


def chromium_path() -> str:
    """The Chromium executable (``$AJAM_CHROMIUM``, else Debian's ``/usr/bin/chromium``), or skip/fail."""
    candidate = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    found = shutil.which(candidate)
    if found is None:
        _unavailable(f"no Chromium at {candidate}")
        raise AssertionError("unreachable")
    return found


def artifacts_dir() -> Path:
    configured = os.environ.get(ARTIFACTS_ENV)
    folder = Path(configured) if configured else REPO_ROOT / "tests" / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch_chromium(playwright: Any) -> Any:
    """The system Chromium, headless, with a fresh profile (Playwright's ``launch`` makes a temp one)."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=list(CHROMIUM_FLAGS), timeout=60_000
    )


@dataclass
class SimEvents:
    """Events the simulated PBX emitted (header pairs), recorded from its own thread."""

    items: list[list[tuple[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: list[tuple[str, str]]) -> None:
        with self.lock:
            self.items.append(list(event))

    def find(self, name: str, **wanted: str) -> list[dict[str, str]]:
        with self.lock:
            snapshot = list(self.items)
        found = []
        for event in snapshot:
            headers = {key.lower(): value for key, value in event}
            if headers.get("event", "").lower() != name.lower():
                continue
            if all(headers.get(key.lower()) == value for key, value in wanted.items()):
                found.append(headers)
        return found


@dataclass
class LiveGateway:
    sim: Any
    base_url: str
    passwords: dict[str, str]
    recordings: Path
    sim_events: SimEvents
    app: Any
    database: str  # the gateway's SQLite file (journal and users)
    web: WebServer

    def run_scenario(self, name: str, **params: str) -> Any:
        """Start a scenario on the simulator's loop; returns a ``concurrent.futures.Future``."""
        return self.sim.call_soon(functools.partial(self.sim.pbx.run_scenario, name, **params))

    def on_sim(self, function: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
        return self.sim.call_soon(function, *args).result(timeout=timeout)

    def restart_pbx(
        self, *, downtime: float, keep_calls: bool
    ) -> concurrent.futures.Future[tuple[float, float]]:
        """Restart the simulated PBX (``sim.faults.restart``); the future gives the wall-clock times
        (``time.time()``, the clock of the page's ``Date.now()``) it began stopping and listened again."""

        async def restart() -> tuple[float, float]:
            stopping = time.time()
            await self.sim.faults.restart(downtime=downtime, keep_calls=keep_calls)
            return stopping, time.time()

        started: concurrent.futures.Future[tuple[float, float]] = self.sim.call_soon(restart)
        return started

    def drop_push_connections(self) -> int:
        """Abort the gateway's WebSocket connections (the socket closed at once, no close frame: as a
        proxy or a flaky network dropping them); returns how many. HTTP requests are left alone."""
        return self.web.abort_websockets()


class WebServer:
    """The gateway's uvicorn server, run in its own thread with its own event loop."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None

    def abort_websockets(self, timeout: float = 10.0) -> int:
        async def abort() -> int:
            # uvicorn registers an upgraded connection's WebSocket protocol in server_state.connections
            connections = list(self.server.server_state.connections)
            found = [c for c in connections if "websockets" in type(c).__module__]
            for connection in found:
                connection.transport.abort()
            return len(found)

        if self.loop is None:
            raise RuntimeError("the gateway is not running")
        return asyncio.run_coroutine_threadsafe(abort(), self.loop).result(timeout=timeout)


# Installed with ``context.add_init_script``: ``window.__probes`` gets
#   banner:    {at, pbx, push, hidden, text} each time #pbx-banner (or its data-push) changes;
#   pushLost:  how many times the push connection was lost (data-push became "lost");
#   rows:      {at, ids} the call ids of #live-body's rows each time they are rendered;
#   snapshots: {at, ids} each GET /api/calls/live answer the page received.
# ``at`` is Date.now() (ms). Observing only: fetch is passed through, the page's own code is untouched.
PAGE_PROBES = """
(() => {
  const probes = (window.__probes = { banner: [], rows: [], snapshots: [], pushLost: 0 });
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (...args) => {
    const response = await nativeFetch(...args);
    const url = String(args[0] instanceof Request ? args[0].url : args[0]);
    if (url.includes("/api/calls/live") && response.ok) {
      response.clone().json().then(
        (body) => probes.snapshots.push({ at: Date.now(), ids: (body.items || []).map((call) => call.id) }),
        () => {},
      );
    }
    return response;
  };
  document.addEventListener("DOMContentLoaded", () => {
    const banner = document.getElementById("pbx-banner");
    const body = document.getElementById("live-body");
    let last = "";
    new MutationObserver(() => {
      const push = banner.dataset.push || "";
      const entry = { pbx: banner.dataset.pbx || "", push, hidden: banner.hidden, text: banner.textContent };
      const key = JSON.stringify(entry);
      if (key === last) return;
      if (push === "lost" && !last.includes('"push":"lost"')) probes.pushLost += 1;
      last = key;
      probes.banner.push({ at: Date.now(), ...entry });
    }).observe(banner, { attributes: true, childList: true, characterData: true, subtree: true });
    new MutationObserver(() => {
      const ids = [...body.querySelectorAll("tr")].map((row) => row.dataset.callId);
      probes.rows.push({ at: Date.now(), ids });
    }).observe(body, { childList: true });
  });
})();
"""


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def _uvicorn(app: Any, sock: socket.socket) -> Iterator[WebServer]:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="auto", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    web = WebServer(server)

    async def serve() -> None:
        web.loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    def run() -> None:  # a failure ends the thread (and threading's excepthook prints it)
        asyncio.run(serve())

    thread = threading.Thread(target=run, name="ajam-gateway-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the gateway did not start (see the exception printed above)")
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway did not start within 30 s")
        time.sleep(0.02)
    try:
        yield web
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def live_gateway(
    tmp_path: Path, *, speed: float = 6.0, contact_url: str | None = None
) -> Iterator[LiveGateway]:
    """Simulator + gateway on real sockets, users of :data:`USERS` with random passwords."""
    from ajam.gateway.app import create_app
    from ajam.gateway.settings import GatewaySettings
    from ajam.gateway.users import open_store
    from ajam.sim.server import running_simulator

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    database = str(tmp_path / "gateway.db")
    events = SimEvents()
    with running_simulator(speed=speed, login_failure_delay=0.0) as sim:
        sim.call_soon(sim.pbx.subscribe, events.record).result(timeout=10)
        settings = GatewaySettings(
            pbx_url=sim.url("ami"),
            db=database,
            recordings_dir=recordings,
            contact_url=contact_url,
        )
        app = create_app(settings, clock=sim.pbx.clock.now)
        sock = _free_socket()
        port = sock.getsockname()[1]
        with _uvicorn(app, sock) as web:
            passwords = {name: secrets.token_urlsafe(12) for name in USERS}
            store = open_store(database)
            try:
                for name, (role, extensions) in USERS.items():
                    store.add_user(name, passwords[name], role, extensions)
            finally:
                store.close()
            gateway = LiveGateway(
                sim, f"http://127.0.0.1:{port}", passwords, recordings, events, app, database, web
            )
            _wait_pbx_connected(gateway.base_url)
            yield gateway
        sock.close()


def _wait_pbx_connected(base_url: str, timeout: float = 20.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2).json().get("pbx") == "connected":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("the gateway did not connect to the simulator")


def write_wav(path: Path, seconds: float = 0.5, rate: int = 8000) -> None:
    """A short silent mono 16-bit WAV (what MixMonitor leaves), so the page's player has a real file."""
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
