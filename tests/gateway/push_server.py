"""A real uvicorn server for push tests, in the test's own event loop, with test principals.

The push routes depend on ``current_principal`` / ``ws_principal``; here they are overridden to read an
``X-Test-User`` header naming one of :data:`PRINCIPALS`, so these tests exercise the channels and their
scoping rules without the user store (the real authentication is tested with the REST API).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, HTTPException, Request, WebSocket

from ajam.gateway.auth import Principal, current_principal, ws_principal
from ajam.gateway.hub import EventHub
from ajam.gateway.push import router

USER_HEADER = "x-test-user"
PRINCIPALS = {
    "op101": Principal("op101", "operator", frozenset({"101"})),
    "op102": Principal("op102", "operator", frozenset({"102"})),
    "super": Principal("super", "supervisor", frozenset()),
}


def push_app(hub: EventHub, **state: object) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.hub = hub
    for name, value in state.items():
        setattr(app.state, name, value)

    async def test_principal(request: Request) -> Principal:
        principal = PRINCIPALS.get(request.headers.get(USER_HEADER, ""))
        if principal is None:
            raise HTTPException(401, "authentication required")
        return principal

    async def test_ws_principal(websocket: WebSocket) -> Principal | None:
        return PRINCIPALS.get(websocket.headers.get(USER_HEADER, ""))

    app.dependency_overrides[current_principal] = test_principal
    app.dependency_overrides[ws_principal] = test_ws_principal
    return app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port; yields ``host:port``."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
