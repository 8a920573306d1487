"""Push channels against a real uvicorn: WebSocket, SSE and long-poll — order, resume, scope, loss, latency."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from ajam.gateway.hub import EventHub
from tests.gateway.push_server import USER_HEADER, push_app, serve


@pytest.fixture
def hub() -> EventHub:
    return EventHub(start=0)


@pytest.fixture
async def address(hub: EventHub) -> AsyncIterator[str]:
    async with serve(push_app(hub, push_queue=50, sse_keepalive=0.2)) as found:
        yield found


@pytest.fixture
async def http(address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as client:
        yield client


def as_user(name: str) -> dict[str, str]:
    return {USER_HEADER: name}


def publish_mix(hub: EventHub) -> None:
    hub.publish("ringing", {"call": "a"}, extensions=["101"])
    hub.publish("ringing", {"call": "b"}, extensions=["102"])
    hub.publish("queue", {"queues": []})
    hub.publish("pbx", {"state": "connected"})
    hub.publish("ended", {"call": "c"}, extensions=["101", "102"])


async def poll(http: httpx.AsyncClient, user: str, **params: Any) -> dict[str, Any]:
    response = await http.get("/api/poll", params=params, headers=as_user(user))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# ------------------------------------------------------------------------------------------ long-poll
async def test_poll_refuses_the_unauthenticated(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/poll", params={"after": 0, "timeout": 0})).status_code == 401
    assert (await http.get("/api/poll", headers=as_user("op101"), params={"timeout": 61})).status_code == 422


async def test_poll_is_scoped_and_ordered(hub: EventHub, http: httpx.AsyncClient) -> None:
    publish_mix(hub)
    operator = await poll(http, "op101", after=0, timeout=0)
    assert [(event["cursor"], event["type"]) for event in operator["events"]] == [
        (1, "ringing"),
        (4, "pbx"),
        (5, "ended"),
    ]
    assert operator["cursor"] == 5 and operator["reset"] is False
    other = await poll(http, "op102", after=0, timeout=0)
    assert [event["data"].get("call") for event in other["events"]] == ["b", None, "c"]
    supervisor = await poll(http, "super", after=0, timeout=0)
    assert [event["cursor"] for event in supervisor["events"]] == [1, 2, 3, 4, 5]
    assert supervisor["events"][0] == {
        "cursor": 1,
        "type": "ringing",
        "at": supervisor["events"][0]["at"],
        "extensions": ["101"],
        "data": {"call": "a"},
    }


async def test_poll_cursor_advances_past_events_the_caller_may_not_see(
    hub: EventHub, http: httpx.AsyncClient
) -> None:
    hub.publish("ringing", {}, extensions=["102"])
    answer = await poll(http, "op101", after=0, timeout=0)
    assert answer == {"cursor": 1, "events": [], "reset": False}


async def test_poll_answers_within_milliseconds_of_a_publish(hub: EventHub, http: httpx.AsyncClient) -> None:
    published_at: list[float] = []

    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        published_at.append(time.perf_counter())
        hub.publish("ringing", {"call": "late"}, extensions=["101"])

    publisher = asyncio.create_task(publish_later())
    answer = await poll(http, "op101", after=hub.last_cursor, timeout=10)
    answered = time.perf_counter()
    await publisher
    assert [event["data"]["call"] for event in answer["events"]] == ["late"]
    assert answered - published_at[0] < 0.05


async def test_poll_without_after_waits_for_news_and_times_out_empty(
    hub: EventHub, http: httpx.AsyncClient
) -> None:
    hub.publish("ringing", {}, extensions=["101"])
    started = time.perf_counter()
    answer = await poll(http, "op101", timeout=0.2)
    assert answer == {"cursor": 1, "events": [], "reset": False}
    assert time.perf_counter() - started >= 0.2


async def test_poll_loses_nothing_between_polls(hub: EventHub, http: httpx.AsyncClient) -> None:
    rng = random.Random(5)
    expected: list[int] = []

    async def publisher() -> None:
        for index in range(400):
            extension = rng.choice(["101", "102", "103"])
            envelope = hub.publish("ringing", {"i": index}, extensions=[extension])
            if extension == "101":
                expected.append(envelope.cursor)
            if rng.random() < 0.2:
                await asyncio.sleep(rng.random() * 0.003)

    task = asyncio.create_task(publisher())
    seen: list[int] = []
    cursor = hub.last_cursor
    polls = 0
    while not (task.done() and cursor >= hub.last_cursor):
        answer = await poll(http, "op101", after=cursor, timeout=0.5, limit=7)
        polls += 1
        assert answer["reset"] is False
        seen.extend(event["cursor"] for event in answer["events"])
        assert answer["cursor"] >= cursor
        cursor = answer["cursor"]
    await task
    assert polls > 10
    assert seen == expected


async def test_poll_reports_a_reset_for_a_cursor_older_than_history(http: httpx.AsyncClient) -> None:
    small = EventHub(history=3, start=0)
    for index in range(6):
        small.publish("pbx", {"i": index})
    async with serve(push_app(small)) as address:
        async with httpx.AsyncClient(base_url=f"http://{address}") as client:
            answer = await poll(client, "op101", after=1, timeout=5)
    assert answer == {"cursor": 6, "events": [], "reset": True}


# ------------------------------------------------------------------------------------------ WebSocket
async def receive(connection: ClientConnection) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), 5))
    return value


async def test_ws_refuses_the_unauthenticated(address: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{address}/api/ws"):
            pass
    assert refused.value.response.status_code == 401


async def test_ws_hello_then_scoped_events_in_order(hub: EventHub, address: str) -> None:
    async with connect(f"ws://{address}/api/ws", additional_headers=as_user("op101")) as operator:
        async with connect(f"ws://{address}/api/ws", additional_headers=as_user("super")) as supervisor:
            hello = await receive(operator)
            assert hello["type"] == "hello" and hello["cursor"] == 0
            assert hello["data"]["username"] == "op101"
            assert (await receive(supervisor))["type"] == "hello"
            publish_mix(hub)
            assert [(await receive(operator))["cursor"] for _ in range(3)] == [1, 4, 5]
            assert [(await receive(supervisor))["type"] for _ in range(5)] == [
                "ringing",
                "ringing",
                "queue",
                "pbx",
                "ended",
            ]
            await operator.send("ping")
            assert await receive(operator) == {"type": "pong", "cursor": 5}
            await operator.send(json.dumps({"type": "ping"}))
            assert (await receive(operator))["type"] == "pong"


async def test_ws_resumes_after_a_cursor(hub: EventHub, address: str) -> None:
    publish_mix(hub)
    async with connect(f"ws://{address}/api/ws?after=1", additional_headers=as_user("op102")) as client:
        assert (await receive(client))["cursor"] == 1
        assert [(await receive(client))["cursor"] for _ in range(3)] == [2, 4, 5]
        hub.publish("answered", {}, extensions=["102"])
        assert (await receive(client))["cursor"] == 6


async def test_ws_batch_mode_sends_arrays(hub: EventHub, address: str) -> None:
    async with connect(f"ws://{address}/api/ws?batch=true", additional_headers=as_user("super")) as client:
        await receive(client)
        publish_mix(hub)
        cursors: list[int] = []
        while len(cursors) < 5:
            frame = json.loads(await asyncio.wait_for(client.recv(), 5))
            assert isinstance(frame, list)
            cursors.extend(event["cursor"] for event in frame)
        assert cursors == [1, 2, 3, 4, 5]


async def test_ws_slow_client_does_not_delay_others(hub: EventHub, address: str) -> None:
    """A client that never reads (tiny receive buffer) fills its TCP buffers, then its queue overflows and
    envelopes are dropped for it alone, while a reading client receives every envelope in order and
    publishing is never held up."""
    host, port = address.split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # no kernel autotuning
    stalled.connect((host, int(port)))
    stalled.sendall(
        f"GET /api/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{USER_HEADER}: super\r\n\r\n".encode()
    )
    payload = {"blob": "x" * 20_000}
    total = 1500
    try:
        async with connect(
            f"ws://{address}/api/ws", additional_headers=as_user("super"), max_size=None
        ) as fast:
            await receive(fast)
            while hub.subscriber_count < 2:
                await asyncio.sleep(0.01)
            received: list[int] = []

            async def read_fast() -> None:
                while len(received) < total:
                    received.append((await receive(fast))["cursor"])

            reader = asyncio.create_task(read_fast())
            longest_publish = 0.0
            for _ in range(total):
                started = time.perf_counter()
                hub.publish("pbx", payload)
                longest_publish = max(longest_publish, time.perf_counter() - started)
                await asyncio.sleep(0)
            await asyncio.wait_for(reader, 30)
            assert received == list(range(1, total + 1))
            assert longest_publish < 0.05
            assert hub.dropped > total // 2
    finally:
        stalled.close()


# ------------------------------------------------------------------------------------------ SSE
async def sse_events(
    http: httpx.AsyncClient, user: str, count: int, headers: dict[str, str] | None = None
) -> tuple[list[tuple[str | None, dict[str, Any]]], list[str]]:
    """Read ``count`` SSE data events: [(id, payload)], and the comment lines seen meanwhile."""
    events: list[tuple[str | None, dict[str, Any]]] = []
    comments: list[str] = []
    async with http.stream("GET", "/api/events", headers={**as_user(user), **(headers or {})}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id: str | None = None
        async for line in response.aiter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                events.append((event_id, json.loads(line[6:])))
                event_id = None
                if len(events) == count:
                    break
    return events, comments


async def test_sse_refuses_the_unauthenticated(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/events")).status_code == 401


async def test_sse_ids_are_cursors_and_last_event_id_resumes(hub: EventHub, http: httpx.AsyncClient) -> None:
    publish_mix(hub)
    events, _ = await sse_events(http, "op101", 3, {"Last-Event-ID": "1"})
    assert [(event_id, event["type"]) for event_id, event in events] == [
        ("1", "hello"),
        ("4", "pbx"),
        ("5", "ended"),
    ]
    assert all(event_id == str(event["cursor"]) for event_id, event in events)


async def test_sse_live_events_and_keepalive_comments(hub: EventHub, http: httpx.AsyncClient) -> None:
    async def publish_later() -> None:
        await asyncio.sleep(0.5)
        hub.publish("ringing", {"call": "x"}, extensions=["102"])
        hub.publish("ringing", {"call": "y"}, extensions=["101"])

    task = asyncio.create_task(publish_later())
    events, comments = await asyncio.wait_for(sse_events(http, "op101", 2), 10)
    await task
    assert events[1] == ("2", events[1][1]) and events[1][1]["data"] == {"call": "y"}
    assert ": keep-alive" in comments


def test_websockets_client_library_is_available() -> None:
    assert websockets.__version__
