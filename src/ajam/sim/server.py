"""``SimulatedPbx``: a fake Asterisk 22 on loopback, speaking AMI over TCP and AJAM over HTTP.

    async with SimulatedPbx() as sim:              # free ports, users admin/s3cret and limited/limited1
        url = sim.url("ami")                         # ami://admin:s3cret@127.0.0.1:PORT
        await sim.pbx.run_scenario("originate_answered")

For synchronous tests and subprocess (CLI) tests, :func:`running_simulator` runs one in a daemon
thread with its own event loop; ``sim.call_soon(fn, *args)`` runs ``fn`` (plain or async) on that
loop and returns a :class:`concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ajam.sim.config import ManagerConfig, User, default_config, load_manager_conf
from ajam.sim.dispatch import Dispatcher, PbxBackend
from ajam.sim.faults import Faults
from ajam.sim.http import HttpServer
from ajam.sim.session import Headers, SessionRegistry
from ajam.sim.tcp import AmiServer

UsersInput = None | str | Path | ManagerConfig | Mapping[str, User]
_KINDS = ("rawman", "mxml", "manager", "arawman", "amxml", "amanager")


def _config_from(users: UsersInput) -> ManagerConfig:
    if users is None:
        return default_config()
    if isinstance(users, ManagerConfig):
        return users
    if isinstance(users, (str, Path)):
        return load_manager_conf(users)
    return ManagerConfig(users={name.lower(): user for name, user in users.items()})


class SimulatedPbx:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ami_port: int = 0,
        http_port: int = 0,
        users: UsersInput = None,
        webenabled: bool | None = None,
        httptimeout: int | None = None,
        authtimeout: float | None = None,
        keep_alive: float = 15.0,
        login_failure_delay: float = 1.0,
        speed: float = 1.0,
        seed: int | None = None,
        version: str = "22.10.1",
        pbx: PbxBackend | None = None,
        dialplan: str = "both",
    ) -> None:
        """Settings left at ``None`` come from the manager.conf given as ``users`` (or Asterisk's defaults:
        webenabled yes, httptimeout 60, authtimeout 30). ``pbx`` replaces the call model (tests only);
        ``dialplan`` ("local", "sip" or "both") chooses the simulated configuration (see ``Pbx``)."""
        self.config = _config_from(users)
        self.host = host
        self.webenabled = webenabled if webenabled is not None else self.config.webenabled
        self.httptimeout = httptimeout if httptimeout is not None else self.config.httptimeout
        self.authtimeout = authtimeout if authtimeout is not None else float(self.config.authtimeout)
        self.speed = speed
        self.seed = seed
        self.version = version
        if pbx is None:
            from ajam.sim.pbx import Pbx

            pbx = Pbx(seed=seed, speed=speed, version=version, dialplan=dialplan)
        self.pbx: Any = pbx
        self.registry = SessionRegistry()
        self.dispatcher = Dispatcher(
            config=self.config,
            pbx=self.pbx,
            registry=self.registry,
            version=version,
            login_failure_delay=login_failure_delay,
            httptimeout=self.httptimeout,
        )
        self.ami = AmiServer(
            dispatcher=self.dispatcher,
            registry=self.registry,
            host=host,
            port=ami_port,
            authtimeout=self.authtimeout,
        )
        self.http = HttpServer(
            dispatcher=self.dispatcher,
            registry=self.registry,
            config=self.config,
            host=host,
            port=http_port,
            webenabled=self.webenabled,
            httptimeout=self.httptimeout,
            keep_alive=keep_alive,
            version=version,
        )
        self.faults = Faults(self)
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ami_port(self) -> int:
        return self.ami.port

    @property
    def http_port(self) -> int:
        return self.http.port

    def publish(self, event: Headers) -> None:
        """Send an event to every session (as the PBX's event bus does)."""
        self.dispatcher.calls.observe(event)
        self.registry.broadcast(event)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._unsubscribe is None:
            self._unsubscribe = self.pbx.subscribe(self.publish)
        await self.ami.start()
        await self.http.start()

    async def _stop_servers(self) -> None:
        await self.ami.stop()
        await self.http.stop()
        for session in list(self.registry):
            self.registry.remove(session)

    async def stop(self) -> None:
        await self._stop_servers()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.pbx.aclose()

    async def restart(self, *, downtime: float = 0.0, keep_calls: bool = False) -> None:
        """Stop listening, drop every connection and session, then listen again on the same ports."""
        await self._stop_servers()
        if downtime > 0:
            await asyncio.sleep(downtime)
        self.pbx.restart(keep_calls)
        await self.ami.start()
        await self.http.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    def url(self, kind: str = "ami", user: str = "admin") -> str:
        """A URL with credentials for ``kind`` (``ami`` or an AJAM endpoint name) and a configured user."""
        account = self.config.user(user)
        if account is None:
            raise KeyError(f"no manager user {user!r} in the simulator's configuration")
        credentials = f"{account.name}:{account.secret}@"
        if kind == "ami":
            return f"ami://{credentials}{self.host}:{self.ami_port}"
        if kind not in _KINDS:
            raise ValueError(f"unknown endpoint kind {kind!r}; use 'ami' or one of {', '.join(_KINDS)}")
        return f"http://{credentials}{self.host}:{self.http_port}/asterisk/{kind}"

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` (sync or async) on the simulator's loop, from any thread."""
        if self._loop is None:
            raise RuntimeError("the simulator is not running")

        async def run() -> Any:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop)


@contextmanager
def running_simulator(**kwargs: Any) -> Iterator[SimulatedPbx]:
    """A :class:`SimulatedPbx` running in a daemon thread (for synchronous and subprocess tests)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ajam-sim", daemon=True)
    thread.start()
    try:
        created: concurrent.futures.Future[SimulatedPbx] = asyncio.run_coroutine_threadsafe(
            _create_and_start(kwargs), loop
        )
        sim = created.result(timeout=30)
        try:
            yield sim
        finally:
            asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _create_and_start(kwargs: dict[str, Any]) -> SimulatedPbx:
    sim = SimulatedPbx(**kwargs)
    await sim.start()
    return sim
