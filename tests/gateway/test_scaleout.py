"""Scale-out end to end: two gateways (real uvicorn servers) on one redis-server, one simulated PBX and
one SQLite database.

The first gateway becomes the leader and connects to the PBX; the second follows through Redis: its
browser clients get the leader's envelopes with the same cursors, and its PBX-bound requests (live
calls, queue board, dial, SMS, admin action) are forwarded to the leader. When the leader stops, the
follower takes the lock, connects to the PBX itself, and clients resume there by cursor.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from ajam.client import connect as connect_manager
from ajam.gateway.app import create_app
from ajam.gateway.settings import GatewaySettings
from ajam.gateway.users import open_store
from ajam.protocol.message import Event
from ajam.sim.server import SimulatedPbx
from tests.gateway.gateway_app import wait_for
from tests.support.redis import redis_server, redis_url  # noqa: F401  (fixtures)

SPEED = 20.0
LOCK_TTL = 1.0
USERS = {"op101": ("operator", ("101",)), "super": ("supervisor", ()), "admin": ("admin", ())}
CALL_TYPES = ("ringing", "answered", "ended")


@dataclass
class Node:
    """One gateway process: its app and uvicorn server on a free loopback port."""

    app: FastAPI
    server: uvicorn.Server
    task: asyncio.Task[None]
    address: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def is_leader(self) -> bool:
        return bool(self.app.state.bus.is_leader)

    async def login(self, username: str, password: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url, timeout=20)
        self.clients.append(client)
        answer = await client.post("/api/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    async def websocket(self, client: httpx.AsyncClient, after: int | None = None) -> ClientConnection:
        """A browser-like WebSocket: the session cookie, and this gateway as the page's origin."""
        query = "" if after is None else f"?after={after}"
        socket = await connect(
            f"ws://{self.address}/api/ws{query}",
            origin=self.base_url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"ajam_session={client.cookies['ajam_session']}"},
        )
        hello = json.loads(await socket.recv())
        assert hello["type"] == "hello"
        return socket

    async def stop(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 20)


async def start_node(settings: GatewaySettings, clock: Callable[[], float]) -> Node:
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the gateway stopped while starting")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Node(app, server, task, f"127.0.0.1:{port}")


@dataclass
class Cluster:
    sim: SimulatedPbx
    leader: Node
    follower: Node
    passwords: dict[str, str]
    originates: list[Event]


@asynccontextmanager
async def running_cluster(tmp_path: Path, redis_url: str, speed: float = SPEED) -> AsyncIterator[Cluster]:  # noqa: F811
    db = str(tmp_path / "gateway.db")
    store = await asyncio.to_thread(open_store, db)
    passwords = {name: secrets.token_urlsafe(12) for name in USERS}
    for name, (role, extensions) in USERS.items():
        await asyncio.to_thread(store.add_user, name, passwords[name], role, extensions)
    store.close()
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(SimulatedPbx(speed=speed, login_failure_delay=0.0))
        originates: list[Event] = []
        watcher = await connect_manager(sim.url("ami"))  # sees what reaches the PBX
        stack.push_async_callback(watcher.close)
        watcher.on("OriginateResponse", originates.append)
        settings = GatewaySettings(
            pbx_url=sim.url("ami"),
            db=db,
            bus_url=redis_url,
            bus_prefix=f"scaleout-{secrets.token_hex(4)}",
            bus_lock_ttl=LOCK_TTL,
        )
        leader = await start_node(settings, sim.pbx.clock.now)
        stack.push_async_callback(leader.stop)
        follower = await start_node(settings, sim.pbx.clock.now)
        stack.push_async_callback(follower.stop)
        assert leader.is_leader and not follower.is_leader
        assert await leader.app.state.link.wait_ready(10)
        assert follower.app.state.link.client is None, "only the leader connects to the PBX"
        yield Cluster(sim, leader, follower, passwords, originates)


@pytest.fixture
async def cluster(tmp_path: Path, redis_url: str) -> AsyncIterator[Cluster]:  # noqa: F811
    async with running_cluster(tmp_path, redis_url) as running:
        yield running


async def envelopes(socket: ClientConnection, until: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """Read envelopes until ``until(received)`` holds."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while not until(received):
            received.append(json.loads(await socket.recv()))
    return received


def ended(received: list[dict[str, Any]]) -> bool:
    return any(envelope["type"] == "ended" for envelope in received)


def call_envelopes(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [envelope for envelope in received if envelope["type"] in CALL_TYPES]


async def health(client: httpx.AsyncClient) -> str:
    return str((await client.get("/api/health")).json()["pbx"])


async def test_a_follower_serves_what_the_leader_sees(cluster: Cluster) -> None:
    leader, follower, passwords = cluster.leader, cluster.follower, cluster.passwords
    op_here = await follower.login("op101", passwords["op101"])
    op_there = await leader.login("op101", passwords["op101"])
    supervisor = await follower.login("super", passwords["super"])
    admin = await follower.login("admin", passwords["admin"])
    await wait_for(lambda: health(op_here), timeout=5)
    assert await health(op_here) == "connected"  # the leader's PBX state, learnt through the bus

    on_follower = await follower.websocket(op_here)
    on_leader = await leader.websocket(op_there)
    call = asyncio.create_task(cluster.sim.pbx.run_scenario("sip_inbound_answered_recorded"))  # → 101
    live = await wait_for(lambda: _live(op_here), timeout=10)  # forwarded to the leader
    assert [item["id"] for item in live] == [item["id"] for item in await _live(op_there)]
    await call
    seen_here = call_envelopes(await envelopes(on_follower, ended))
    seen_there = call_envelopes(await envelopes(on_leader, ended))
    assert seen_here[0]["type"] == "ringing" and seen_here[-1]["type"] == "ended"
    assert "answered" in [envelope["type"] for envelope in seen_here]
    assert seen_here == seen_there  # same envelopes, same cursors
    call_id = seen_here[-1]["data"]["call"]["id"]
    journal = (await op_here.get("/api/journal")).json()["items"]
    assert call_id in [item["id"] for item in journal]

    board = await supervisor.get("/api/queues")
    assert board.status_code == 200 and "support" in json.dumps(board.json()["queues"])
    assert (await op_here.get("/api/queues")).status_code == 403  # auth is checked on the follower

    accepted = await op_here.post("/api/dial", json={"to": "4951112233"})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()["id"]
    await wait_for(lambda: any(event.get("Exten") == "84951112233" for event in cluster.originates), 20)
    result = await wait_for(lambda: _dial_done(op_here, job), timeout=20)
    assert result["status"] == "answered" and result["from_extension"] == "101" and result["call_id"]
    dial_pushes = await envelopes(on_follower, lambda got: any(e["type"] == "dial" for e in got))
    assert [e["data"]["id"] for e in dial_pushes if e["type"] == "dial"] == [job]
    assert (await op_there.get(f"/api/dial/{job}")).json()["status"] == "answered"
    assert (await supervisor.get("/api/dial/unknown")).status_code == 404
    not_mine = await op_here.post("/api/dial", json={"to": "4951112233", "from_extension": "102"})
    assert not_mine.status_code == 403

    sms = await op_here.post("/api/sms", json={"to": "101", "body": "Перезвоните клиенту"})
    assert sms.status_code == 200 and sms.json()["ok"] is True
    injected = await op_here.post("/api/sms", json={"to": "101\r\nAction: Logoff", "body": "x"})
    assert injected.status_code == 400
    ping = await admin.post("/api/admin/action", json={"action": "Ping"})
    assert ping.status_code == 200 and ping.json()["response"]["Response"] == "Success"
    bad = await admin.post(
        "/api/admin/action", json={"action": "Ping", "headers": {"X": "1\r\nAction: Logoff"}}
    )
    assert bad.status_code == 400
    await on_follower.close()
    await on_leader.close()


async def test_the_follower_takes_over_when_the_leader_stops(cluster: Cluster) -> None:
    leader, follower, passwords = cluster.leader, cluster.follower, cluster.passwords
    op_here = await follower.login("op101", passwords["op101"])
    op_there = await leader.login("op101", passwords["op101"])
    on_leader = await leader.websocket(op_there)
    await cluster.sim.pbx.run_scenario("sip_inbound_noanswer")
    before = call_envelopes(await envelopes(on_leader, ended))
    last_seen = before[-1]["cursor"]
    first_call = before[-1]["data"]["call"]["id"]
    await on_leader.close()

    await leader.stop()  # the load balancer's clients come to the follower now
    await wait_for(lambda: follower.is_leader, timeout=LOCK_TTL * 4)
    assert await follower.app.state.link.wait_ready(10), "the new leader connects to the PBX"
    assert await health(op_here) == "connected"

    resumed = await follower.websocket(op_here, after=last_seen)  # the browser reconnects by cursor
    await cluster.sim.pbx.run_scenario("sip_inbound_answered_recorded")
    after = await envelopes(resumed, ended)
    gaps = [envelope for envelope in after if envelope["type"] == "gap"]
    calls = call_envelopes(after)
    assert calls and calls[0]["cursor"] > last_seen
    if not gaps:  # nothing lost between the two leaders: the cursors simply go on
        assert [envelope["cursor"] for envelope in after] == sorted(e["cursor"] for e in after)
    second_call = calls[-1]["data"]["call"]["id"]
    poll = (await op_here.get("/api/poll", params={"after": last_seen, "timeout": 0})).json()
    assert poll["reset"] is False and second_call in json.dumps(poll["events"])
    journal = {item["id"] for item in (await op_here.get("/api/journal")).json()["items"]}
    assert {first_call, second_call} <= journal
    live = (await op_here.get("/api/calls/live")).status_code
    assert live == 200
    await resumed.close()


async def test_a_call_in_progress_survives_a_crashed_leader(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    """The leader dies without releasing its lock (no graceful shutdown) while a call is answered: the
    follower waits for the lock to expire, connects, picks the call up from the PBX's channel list, and
    journals it when it ends. The browser on the follower sees the whole call on one connection."""
    async with running_cluster(tmp_path, redis_url, speed=2.0) as cluster:  # a call lasts ~5 s
        leader, follower = cluster.leader, cluster.follower
        op_here = await follower.login("op101", cluster.passwords["op101"])
        socket = await follower.websocket(op_here)
        call = asyncio.create_task(cluster.sim.pbx.run_scenario("sip_inbound_answered_recorded"))
        answered = await envelopes(socket, lambda got: any(e["type"] == "answered" for e in got))
        call_id = answered[-1]["data"]["call"]["id"]

        await leader.app.state.link.stop()  # the process dies: its PBX connection goes away ...
        await leader.app.state.bus.close(release=False)  # ... and its lock is left to expire
        await wait_for(lambda: follower.is_leader, timeout=LOCK_TTL * 4)
        assert await follower.app.state.link.wait_ready(10)
        assert not call.done(), "the call outlives the failover"
        assert call_id in [item["id"] for item in await _live(op_here)]

        rest = await envelopes(socket, ended)
        assert rest[-1]["data"]["call"]["id"] == call_id
        cursors = [envelope["cursor"] for envelope in answered + rest]
        assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
        await call
        journal = (await op_here.get("/api/journal")).json()["items"]
        assert [item["id"] for item in journal].count(call_id) == 1
        await socket.close()


async def test_a_leader_that_loses_its_lock_lets_go_of_the_pbx(cluster: Cluster, redis_url: str) -> None:  # noqa: F811
    import redis.asyncio as redis

    leader, follower = cluster.leader, cluster.follower
    bus = leader.app.state.bus
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.set(bus.leader_key, "somebody-else", px=int(LOCK_TTL * 2000))  # taken over
        await wait_for(lambda: not leader.is_leader, timeout=LOCK_TTL * 2)
        await wait_for(lambda: leader.app.state.link.client is None, timeout=10)
        # the lock expires: one of the two leads and connects, the other stays without a PBX link
        await wait_for(lambda: leader.is_leader or follower.is_leader, timeout=LOCK_TTL * 6)
        new, other = (leader, follower) if leader.is_leader else (follower, leader)
        assert await new.app.state.link.wait_ready(10)
        assert other.app.state.link.client is None
        op = await other.login("op101", cluster.passwords["op101"])
        await wait_for(lambda: _health_is(op, "connected"), timeout=5)
        await cluster.sim.pbx.run_scenario("sip_inbound_noanswer")
        await wait_for(lambda: _journal_size(op), timeout=10)
    finally:
        await client.aclose()


async def _health_is(client: httpx.AsyncClient, state: str) -> bool:
    return await health(client) == state


async def _journal_size(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/journal")).json()["total"])


async def _live(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await client.get("/api/calls/live")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _dial_done(client: httpx.AsyncClient, job: str) -> dict[str, Any] | None:
    answer = await client.get(f"/api/dial/{job}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found if found["state"] == "done" else None
