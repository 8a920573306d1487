"""The whole gateway (``create_app``) against an in-process simulated PBX, for API and auth tests.

``running_gateway`` starts a :class:`SimulatedPbx` (20× speed), the app's lifespan (journal + users in a
temporary SQLite file), and gives httpx clients over ASGI. Every response body and every log line of the
run is collected, so a test can assert that no secret (manager secret, passwords, tokens) leaked.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from ajam.gateway.app import create_app
from ajam.gateway.settings import GatewaySettings
from ajam.sim.server import SimulatedPbx

SPEED = 20.0
BASE_URL = "http://testserver"
USERS = {  # username: (role, extensions)
    "admin": ("admin", ()),
    "super": ("supervisor", ()),
    "op101": ("operator", ("101",)),
    "op102": ("operator", ("102",)),
}


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Gateway:
    sim: SimulatedPbx
    app: FastAPI
    passwords: dict[str, str]
    bodies: list[str] = field(default_factory=list)
    logs: Collector = field(default_factory=Collector)
    secrets: set[str] = field(default_factory=set)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
        """A fresh client (own cookie jar) whose responses are collected."""

        async def keep(response: httpx.Response) -> None:
            await response.aread()
            request = response.request
            if request.method == "POST" and request.url.path == "/api/admin/tokens":
                return  # the one answer that shows a new token, by design
            self.bodies.append(response.text)
            self.bodies.extend(f"{name}: {value}" for name, value in response.headers.items())

        created = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=BASE_URL,
            headers=headers,
            event_hooks={"response": [keep]},
        )
        self._clients.append(created)
        return created

    async def login(self, username: str) -> httpx.AsyncClient:
        """A client logged in as ``username`` that sends its CSRF token with every request."""
        client = self.client()
        response = await client.post(
            "/api/login", json={"username": username, "password": self.passwords[username]}
        )
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    async def bearer(self, token: str) -> httpx.AsyncClient:
        self.secrets.add(token)
        return self.client({"Authorization": f"Bearer {token}"})

    def leaked(self) -> list[str]:
        """Responses and log lines holding any of the secrets."""
        texts = [*self.bodies, *self.logs.lines]
        return [text[:200] for text in texts for secret in self.secrets if secret in text]


async def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running_gateway(tmp_path: Path, **options: Any) -> AsyncIterator[Gateway]:
    collector = Collector()
    collector.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        async with SimulatedPbx(speed=SPEED, login_failure_delay=0.0) as sim:
            settings = GatewaySettings(pbx_url=sim.url("ami"), db=str(tmp_path / "calls.db"), **options)
            app = create_app(settings, clock=sim.pbx.clock.now)
            async with app.router.lifespan_context(app):
                store = app.state.store
                passwords = {name: secrets.token_urlsafe(12) for name in USERS}
                for name, (role, extensions) in USERS.items():
                    await asyncio.to_thread(store.add_user, name, passwords[name], role, extensions)
                gateway = Gateway(sim, app, passwords, logs=collector)
                gateway.secrets.update(passwords.values())
                gateway.secrets.add(sim.config.user("admin").secret)
                assert await app.state.link.wait_ready(10)
                try:
                    yield gateway
                finally:
                    for client in gateway._clients:
                        await client.aclose()
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)
