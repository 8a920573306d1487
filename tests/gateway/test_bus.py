"""Scale-out over a real redis-server: one leader, followers with the same cursors, failover, forwarding."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from ajam.gateway.bus import BusError, GatewayBus
from ajam.gateway.hub import GAP, EventHub
from tests.gateway.push_server import USER_HEADER, push_app, serve
from tests.support.redis import redis_server, redis_url  # noqa: F401  (fixtures)

TTL = 0.6


class Node:
    """One gateway process: a hub, its bus, and a record of leadership changes."""

    def __init__(self, url: str, name: str, handler: Any = None) -> None:
        self.hub = EventHub()
        self.roles: list[str] = []
        self.bus = GatewayBus(
            url,
            self.hub,
            prefix="test",
            node_id=name,
            lock_ttl=TTL,
            handler=handler,
            on_leader=self._leading,
            on_follower=self._following,
        )

    async def _leading(self) -> None:
        self.roles.append("leader")

    async def _following(self) -> None:
        self.roles.append("follower")


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[list[Node]]:  # noqa: F811
    async def handler(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if kind == "fail":
            raise ValueError("refused by the PBX")
        return {"kind": kind, "echo": payload, "by": "a"}

    first = Node(redis_url, "a", handler)
    await first.bus.start()
    second = Node(redis_url, "b", handler)
    await second.bus.start()
    try:
        yield [first, second]
    finally:
        await second.bus.close()
        await first.bus.close()


async def until(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_one_leader_and_followers_share_cursors(nodes: list[Node]) -> None:
    leader, follower = nodes
    assert leader.bus.is_leader and not follower.bus.is_leader
    assert leader.roles == ["leader"] and follower.roles == []
    subscription = follower.hub.subscribe()
    sent = [leader.hub.publish("ringing", {"i": index}, extensions=["101"]) for index in range(50)]
    received = [await asyncio.wait_for(anext(subscription), 5) for _ in range(50)]
    assert [envelope.cursor for envelope in received] == [envelope.cursor for envelope in sent]
    assert [envelope.json for envelope in received] == [envelope.json for envelope in sent]
    assert follower.hub.last_cursor == leader.hub.last_cursor
    resumable = follower.hub.since(sent[9].cursor)
    assert [envelope.cursor for envelope in resumable or []] == [envelope.cursor for envelope in sent[10:]]


async def test_a_client_on_the_follower_gets_the_leaders_event_with_its_cursor(nodes: list[Node]) -> None:
    leader, follower = nodes
    async with serve(push_app(follower.hub)) as address:
        async with connect(f"ws://{address}/api/ws", additional_headers={USER_HEADER: "op101"}) as client:
            hello = json.loads(await client.recv())
            assert hello["type"] == "hello"
            leader.hub.publish("ringing", {"call": "other"}, extensions=["102"])
            envelope = leader.hub.publish("ringing", {"call": "mine"}, extensions=["101"])
            received = json.loads(await asyncio.wait_for(client.recv(), 5))
            assert received == json.loads(envelope.json)
        # and it resumes on the leader's own process with that cursor
        leader.hub.publish("ended", {"call": "mine"}, extensions=["101"])
        async with serve(push_app(leader.hub)) as leader_address:
            async with connect(
                f"ws://{leader_address}/api/ws?after={envelope.cursor}",
                additional_headers={USER_HEADER: "op101"},
            ) as client:
                await client.recv()  # hello
                resumed = json.loads(await asyncio.wait_for(client.recv(), 5))
                assert resumed["cursor"] == envelope.cursor + 1 and resumed["type"] == "ended"


async def test_failover_when_the_leader_dies(nodes: list[Node]) -> None:
    leader, follower = nodes
    last = leader.hub.publish("ringing", {}, extensions=["101"])
    await until(lambda: follower.hub.last_cursor == last.cursor)
    subscription = follower.hub.subscribe(after=last.cursor)
    await leader.bus.close(release=False)  # dies: its lock expires after the TTL
    await follower.bus.wait_leader(TTL * 4)
    assert follower.roles == ["leader"]
    following = follower.hub.publish("answered", {}, extensions=["101"])
    assert following.cursor == last.cursor + 1  # the cursor space goes on
    assert (await asyncio.wait_for(anext(subscription), 2)).cursor == following.cursor

    comeback = Node(leader.bus.url, "a2")
    await comeback.bus.start()  # joins as a follower of the new leader
    try:
        assert not comeback.bus.is_leader
        newer = follower.hub.publish("ended", {}, extensions=["101"])
        await until(lambda: comeback.hub.last_cursor == newer.cursor)
        assert [envelope.cursor for envelope in comeback.hub.since(following.cursor) or []] == [newer.cursor]
    finally:
        await comeback.bus.close()


async def test_a_new_leader_continues_after_what_it_missed(redis_url: str) -> None:  # noqa: F811
    first = Node(redis_url, "a")
    await first.bus.start()
    for index in range(3):
        first.hub.publish("pbx", {"i": index})
    await until(lambda: first.bus.forwarded == 3)
    await first.bus.close(release=False)
    late = Node(redis_url, "late")  # never saw those envelopes
    await late.bus.start()
    try:
        await late.bus.wait_leader(TTL * 4)
        assert late.hub.publish("pbx", {}).cursor == first.hub.last_cursor + 1
    finally:
        await late.bus.close()


async def test_a_leader_that_lost_its_lock_stops_publishing(nodes: list[Node]) -> None:
    leader, follower = nodes
    import redis.asyncio as redis

    client = redis.Redis.from_url(leader.bus.url, decode_responses=True)
    try:
        await client.set("test:leader", "someone-else", px=60_000)  # as if another process took over
        subscription = follower.hub.subscribe()
        leader.hub.publish("pbx", {"state": "connected"})
        await until(lambda: not leader.bus.is_leader)
        assert leader.roles == ["leader", "follower"]
        await asyncio.sleep(0.1)
        assert subscription.pending() == 0 and follower.bus.received == 0
    finally:
        await client.aclose()


async def test_followers_forward_requests_to_the_leader(nodes: list[Node]) -> None:
    leader, follower = nodes
    assert await follower.bus.request("dial", {"to": "102"}) == {
        "kind": "dial",
        "echo": {"to": "102"},
        "by": "a",
    }
    assert (await leader.bus.request("sms", {"to": "+7"}))["kind"] == "sms"
    with pytest.raises(BusError, match="refused by the PBX"):
        await follower.bus.request("fail", {})


async def test_a_follower_that_missed_envelopes_reports_a_gap(nodes: list[Node]) -> None:
    leader, follower = nodes
    leader.hub.publish("pbx", {})
    await until(lambda: follower.hub.last_cursor == leader.hub.last_cursor)
    subscription = follower.hub.subscribe()
    follower.bus._take(  # as the channel would deliver it after cursors it never got
        json.dumps(
            {"node": "a", "envelope": {**json.loads(leader.hub.publish("pbx", {}).json), "cursor": 10**17}}
        )
    )
    batch = await asyncio.wait_for(subscription.get_batch(), 5)
    assert GAP in [envelope.type for envelope in batch]
