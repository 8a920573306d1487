"""The ASGI application: ``create_app(settings)`` → FastAPI (OpenAPI at ``/openapi.json``, docs at ``/docs``).

The lifespan opens the call journal and the gateway's user store (same database), creates the event
hub, starts the PBX link in the background (the web server answers at once; ``/api/health`` tells
whether the PBX is connected yet) and, with ``bus_url``, joins the Redis bus of the other gateway
processes instead: then the link runs only while this process is the elected leader, and the REST
routes reach the PBX through :class:`~ajam.gateway.pbx_access.PbxAccess` (forwarded to the leader on a
follower). The REST routes (``api``), the push channels (``push``) and the web panel (``static/`` at
``/``) share that state through ``app.state``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import ajam
from ajam.calls.journal import AsyncJournal
from ajam.errors import JournalError
from ajam.gateway import api
from ajam.gateway.auth import Authenticator
from ajam.gateway.dials import Dialer
from ajam.gateway.hub import EventHub
from ajam.gateway.link import PbxLink
from ajam.gateway.pbx_access import PbxAccess
from ajam.gateway.settings import GatewaySettings
from ajam.gateway.users import UserStore, open_store

log = logging.getLogger("ajam.gateway")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def create_app(settings: GatewaySettings, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The gateway for ``settings``. ``clock`` gives event arrival times to the call service (a
    simulator running faster than real time passes its own clock)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            store: UserStore = await asyncio.to_thread(open_store, settings.db)
            stack.callback(store.close)
            journal = await AsyncJournal.open(settings.db)
            stack.push_async_callback(journal.close)
            hub = EventHub()
            link = PbxLink(settings, hub, journal, clock=clock)
            dialer = Dialer(link, hub, keep=settings.dial_results_kept)
            pbx = PbxAccess(link, dialer, hub)
            stack.push_async_callback(pbx.close)
            app.state.settings = settings
            app.state.store = store
            app.state.journal = journal
            app.state.hub = hub
            app.state.link = link
            app.state.dialer = dialer
            app.state.pbx = pbx
            app.state.authenticator = Authenticator(store, settings)
            if settings.bus_url:
                app.state.bus = await stack.enter_async_context(_bus(settings, hub, pbx))
            else:
                link.start()
            # On the way out: dial jobs, then the PBX link (its finished calls go to the journal),
            # and only then the bus (releasing the lock lets another process connect).
            stack.push_async_callback(link.close)
            stack.push_async_callback(dialer.close)
            log.info("%s", settings.describe())
            yield

    app = FastAPI(
        title="ajam gateway",
        version=ajam.__version__,
        description="Live calls, journal, click-to-call and call-center board of an Asterisk PBX.",
        lifespan=lifespan,
    )
    app.include_router(api.router)
    app.include_router(_push_router())
    app.add_exception_handler(JournalError, _journal_error)
    app.add_middleware(SecurityHeaders)
    if settings.static_dir.is_dir():
        app.mount("/", StaticFiles(directory=settings.static_dir, html=True), name="static")
    return app


def _push_router() -> Any:
    from ajam.gateway import push

    return push.router


@asynccontextmanager
async def _bus(settings: GatewaySettings, hub: EventHub, pbx: PbxAccess) -> AsyncIterator[Any]:
    """Share the hub with the other gateway processes through Redis (``ajam.gateway.bus``): only the
    elected leader connects to the PBX (and lets go when it loses the lock); the others receive its
    envelopes with the same cursors and forward PBX-bound requests to it."""
    bus_module = importlib.import_module("ajam.gateway.bus")
    assert settings.bus_url is not None
    async with bus_module.connect_bus(
        settings.bus_url,
        hub,
        prefix=settings.bus_prefix,
        lock_ttl=settings.bus_lock_ttl,
        handler=pbx.handle,
        on_leader=pbx.on_leader,
        on_follower=pbx.on_follower,
    ) as bus:
        pbx.bus = bus
        if not bus.is_leader:
            pbx.learn_leader_state()
        try:
            yield bus
        finally:
            pbx.bus = None


async def _journal_error(_request: Request, error: Exception) -> Response:
    log.error("journal: %s", error)
    return JSONResponse({"detail": "the call journal is not available"}, status_code=503)


class SecurityHeaders:
    """Pure ASGI middleware (streams pass untouched): nosniff, no framing, no referrer; ``/api``
    answers are not cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if is_api:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
