"""Live push channels over the :class:`~ajam.gateway.hub.EventHub` (``request.app.state.hub``).

All three send the same JSON envelopes ``{cursor, type, at, extensions, data}``, scoped to the caller
(see :func:`envelope_filter`), and resume after a cursor:

- ``WS /api/ws?after=<cursor>`` — one text frame per envelope (``?batch=true``: one JSON array per
  frame, as many envelopes as were waiting). The first frame is ``{"type": "hello", "cursor": N, ...}``:
  N is the cursor the feed continues after, so a client that reconnects with ``?after=N`` loses nothing
  even when no event came meanwhile. Keep-alive: the server's WebSocket pings (uvicorn), and a client's
  text ``ping`` (or ``{"type": "ping"}``) is answered ``{"type": "pong", "cursor": <newest>}``.
- ``GET /api/events`` — Server-Sent Events; ``id:`` is the cursor, so ``EventSource`` resumes by itself
  with ``Last-Event-ID`` (or ``?after=``); a comment line keeps idle connections open.
- ``GET /api/poll?after=<cursor>&timeout=<s>`` — long-poll for plain HTTP clients:
  ``{cursor, events, reset}``. It answers at once when something newer is there, else as soon as
  something is published, else after ``timeout`` seconds with no events. Poll again with the returned
  ``cursor`` and nothing is lost between two polls. ``reset: true``: the cursor was older than the
  history — reload state (live calls, journal) and continue from the returned cursor.

A ``gap`` envelope (``data: {after, dropped, reason}``) on WS/SSE means envelopes after ``data.after``
up to ``cursor`` were not delivered (the client was too slow, or its resume cursor too old): reload
state, then keep reading.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import HTTPConnection

from ajam.gateway.auth import Principal, current_principal, ws_principal
from ajam.gateway.hub import CursorExpired, Envelope, EnvelopeFilter, EventHub, Subscription

log = logging.getLogger("ajam.gateway.push")

router = APIRouter()

PRIVILEGED_ROLES = frozenset({"admin", "supervisor"})
PRIVILEGED_TYPES = frozenset({"queue"})  # the call-center board: supervisors and admins only
MAX_POLL_TIMEOUT = 60.0
DEFAULT_POLL_TIMEOUT = 25.0
SSE_KEEPALIVE = 15.0  # seconds between comment lines on an idle SSE stream
# Envelopes a client may fall behind before it gets a gap. Queues hold references to envelopes the hub's
# history (10,000) keeps anyway, so a deep queue costs little; it must absorb the burst a resync sends at
# once (a 10 s PBX outage at 200 calls/s ends ~1,400 calls together: 1,000 overflowed every supervisor).
SUBSCRIBER_QUEUE = 10_000
WS_CLOSE_UNAUTHENTICATED = 4401


class VisibilityFilter:
    """What one principal may receive: envelopes of calls it sees (``Principal.sees``), envelopes with no
    extensions, except ``queue`` envelopes which only supervisors and admins get.

    An operator's filter has a ``scope`` (its extensions): the hub then offers it only the envelopes of
    those extensions (see :func:`ajam.gateway.hub.filter_scope`) instead of testing it on every call."""

    __slots__ = ("principal", "privileged", "scope")

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        self.privileged = principal.role in PRIVILEGED_ROLES
        self.scope: frozenset[str] | None = None if self.privileged else frozenset(principal.extensions)

    def __call__(self, envelope: Envelope) -> bool:
        if envelope.type in PRIVILEGED_TYPES:
            return self.privileged
        return not envelope.extensions or self.privileged or self.principal.sees(envelope.extensions)


def envelope_filter(principal: Principal) -> EnvelopeFilter:
    """The principal's :class:`VisibilityFilter`."""
    return VisibilityFilter(principal)


def hub_of(app_state: Any) -> EventHub:
    hub = getattr(app_state, "hub", None)
    if not isinstance(hub, EventHub):
        raise TypeError("app.state.hub is not an EventHub")
    return hub


def _queue_size(connection: HTTPConnection) -> int:
    """Envelopes a client may fall behind before it gets a gap (``app.state.push_queue``)."""
    return int(getattr(connection.app.state, "push_queue", SUBSCRIBER_QUEUE))


def _hello(hub: EventHub, principal: Principal, start: int) -> str:
    return json.dumps(
        {
            "cursor": start,
            "type": "hello",
            "at": "",
            "extensions": [],
            "data": {"username": principal.username, "role": principal.role, "newest": hub.last_cursor},
        },
        ensure_ascii=False,
    )


# ---------------------------------------------------------------------------------------------- WS
@router.websocket("/api/ws")
async def websocket_feed(
    websocket: WebSocket,
    principal: Annotated[Principal | None, Depends(ws_principal)],
    after: int | None = None,
    batch: bool = False,
) -> None:
    if principal is None:  # no credentials, or a session cookie sent from another site's page
        await _refuse(websocket, 401, WS_CLOSE_UNAUTHENTICATED, "not authenticated")
        return
    hub = hub_of(websocket.app.state)
    await websocket.accept()
    start = hub.last_cursor if after is None else after
    subscription = hub.subscribe(envelope_filter(principal), after=after, maxsize=_queue_size(websocket))
    writer: asyncio.Task[None] | None = None
    try:
        await websocket.send_text(_hello(hub, principal, start))
        writer = asyncio.create_task(_ws_write(websocket, subscription, batch))
        await _ws_read(websocket, hub)
    except WebSocketDisconnect:
        pass
    finally:
        subscription.close()
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)


async def _refuse(websocket: WebSocket, status: int, code: int, reason: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=status))
    else:
        await websocket.close(code=code, reason=reason)


async def _ws_write(websocket: WebSocket, subscription: Subscription, batch: bool) -> None:
    try:
        while True:
            envelopes = await subscription.get_batch()
            if not envelopes:
                return
            if batch:
                await websocket.send_text("[" + ",".join(envelope.json for envelope in envelopes) + "]")
            else:
                for envelope in envelopes:
                    await websocket.send_text(envelope.json)
    except (WebSocketDisconnect, RuntimeError, OSError):
        subscription.close()  # the reader notices the closed socket and ends the handler


async def _ws_read(websocket: WebSocket, hub: EventHub) -> None:
    while True:
        text = await websocket.receive_text()
        if text.strip() == "ping" or _is_json_ping(text):
            await websocket.send_text(json.dumps({"type": "pong", "cursor": hub.last_cursor}))


def _is_json_ping(text: str) -> bool:
    if not text.startswith("{"):
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("type") == "ping"


# ---------------------------------------------------------------------------------------------- SSE
@router.get("/api/events", response_class=StreamingResponse)
async def server_sent_events(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    after: int | None = None,
) -> StreamingResponse:
    """Server-Sent Events feed of push envelopes; resumes after ``Last-Event-ID`` (or ``after``)."""
    hub = hub_of(request.app.state)
    last_event_id = request.headers.get("last-event-id", "").strip()
    if last_event_id.isdigit():
        after = int(last_event_id)
    start = hub.last_cursor if after is None else after
    subscription = hub.subscribe(envelope_filter(principal), after=after, maxsize=_queue_size(request))
    keepalive = float(getattr(request.app.state, "sse_keepalive", SSE_KEEPALIVE))
    return StreamingResponse(
        _sse_stream(subscription, _hello(hub, principal, start), start, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _sse_stream(
    subscription: Subscription, hello: str, start: int, keepalive: float
) -> AsyncIterator[str]:
    try:
        yield f"retry: 2000\nid: {start}\ndata: {hello}\n\n"
        while True:
            try:
                envelopes = await asyncio.wait_for(subscription.get_batch(), keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if not envelopes:
                return
            yield "".join(f"id: {envelope.cursor}\ndata: {envelope.json}\n\n" for envelope in envelopes)
    finally:
        subscription.close()


# ---------------------------------------------------------------------------------------------- poll
@router.get(
    "/api/poll",
    responses={
        200: {
            "description": "`{cursor, events, reset}`: poll again with `after=cursor`",
            "content": {"application/json": {}},
        }
    },
)
async def long_poll(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    after: Annotated[
        int | None, Query(description="the cursor of the previous answer; omit to start now")
    ] = None,
    timeout: Annotated[float, Query(ge=0, le=MAX_POLL_TIMEOUT)] = DEFAULT_POLL_TIMEOUT,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """Long-poll: the caller's envelopes after ``after``, waiting up to ``timeout`` seconds for one."""
    hub = hub_of(request.app.state)
    position = hub.last_cursor if after is None else after
    try:
        events = await hub.wait(position, envelope_filter(principal), timeout)
        # No await between the hub's scan and reading its newest cursor: every envelope up to that
        # cursor that the caller may see is in ``events``.
        cursor = max(position, hub.last_cursor)
    except CursorExpired:
        return _poll_answer(hub.last_cursor, [], reset=True)
    if len(events) > limit:
        events = events[:limit]
        cursor = events[-1].cursor
    return _poll_answer(cursor, events, reset=False)


def _poll_answer(cursor: int, events: list[Envelope], *, reset: bool) -> Response:
    events_json = ",".join(envelope.json for envelope in events)
    body = f'{{"cursor":{cursor},"events":[{events_json}],"reset":{"true" if reset else "false"}}}'
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
