"""Scale-out over Redis: several gateway processes, one PBX connection, one cursor space.

Exactly one process is the **leader**: it holds the Redis lock ``<prefix>:leader`` (``SET NX PX``,
renewed every ``lock_ttl / 3``), owns the PBX connection (``on_leader`` / ``on_follower`` callbacks start
and stop it) and publishes every envelope of its hub — with its cursor — on the channel
``<prefix>:events``. **Followers** re-publish those envelopes into their own hub with the same cursors
(:meth:`EventHub.inject`), so a browser can resume on any process. When the leader dies its lock expires
and another process takes over, continuing the cursors after the last one published (kept in
``<prefix>:cursor``, written atomically with each publish by a script that also checks the lock, so a
leader that lost its lock cannot publish any more).

Actions that need the PBX (dial, SMS, admin action) are forwarded by followers to the leader:
:meth:`GatewayBus.request` pushes ``{id, kind, payload, reply, deadline}`` on the list
``<prefix>:requests``; the leader runs ``handler(kind, payload)`` and pushes the JSON result on the
reply list. On the leader itself, :meth:`request` calls the handler directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from ajam.gateway.hub import Envelope, EventHub

log = logging.getLogger("ajam.gateway.bus")

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Hook = Callable[[], Awaitable[None]]

RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS: leader lock, cursor key; ARGV: node id, channel, newest cursor, messages...
PUBLISH_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[2], ARGV[3])
for index = 4, #ARGV do
    redis.call('PUBLISH', ARGV[2], ARGV[index])
end
return 1
"""


class BusError(Exception):
    """A forwarded request failed: no leader answered in time, or the leader's handler failed."""


class GatewayBus:
    def __init__(
        self,
        url: str,
        hub: EventHub,
        *,
        prefix: str = "ajam",
        node_id: str | None = None,
        lock_ttl: float = 5.0,
        handler: Handler | None = None,
        on_leader: Hook | None = None,
        on_follower: Hook | None = None,
    ) -> None:
        self.url = url
        self.hub = hub
        self.prefix = prefix
        self.node_id = node_id or uuid.uuid4().hex
        self.lock_ttl = lock_ttl
        self.handler = handler
        self.on_leader = on_leader
        self.on_follower = on_follower
        self.is_leader = False
        self.forwarded = 0  # envelopes this process published to the others
        self.received = 0  # envelopes taken from the channel
        self._redis: redis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[Envelope] = asyncio.Queue()
        self._remove_listener: Callable[[], None] | None = None
        self._injecting = False
        self._synced = False
        self._became_leader = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._answering: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ keys
    @property
    def leader_key(self) -> str:
        return f"{self.prefix}:leader"

    @property
    def cursor_key(self) -> str:
        return f"{self.prefix}:cursor"

    @property
    def channel(self) -> str:
        return f"{self.prefix}:events"

    @property
    def requests_key(self) -> str:
        return f"{self.prefix}:requests"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect, follow the channel, and take part in the leader election (first round awaited)."""
        self._redis = redis.Redis.from_url(self.url, decode_responses=True)
        await self._redis.ping()
        self._renew = self._redis.register_script(RENEW_SCRIPT)
        self._release = self._redis.register_script(RELEASE_SCRIPT)
        self._publish = self._redis.register_script(PUBLISH_SCRIPT)
        self._remove_listener = self.hub.add_listener(self._on_envelope)
        self._tasks.append(asyncio.create_task(self._follow(), name="ajam-bus-follow"))
        await self._subscribed.wait()
        await self._elect_once()
        self._tasks.append(asyncio.create_task(self._elect_loop(), name="ajam-bus-elect"))

    async def close(self, *, release: bool = True) -> None:
        """Stop; ``release=False`` leaves the lock to expire, as when a process dies (tests)."""
        for task in self._tasks + self._leader_tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._leader_tasks, return_exceptions=True)
        self._tasks.clear()
        self._leader_tasks.clear()
        if self._remove_listener is not None:
            self._remove_listener()
        if self._redis is not None:
            if release and self.is_leader:
                with contextlib.suppress(RedisError, OSError):
                    await self._release(keys=[self.leader_key], args=[self.node_id])
            await self._redis.aclose()
        self.is_leader = False

    async def wait_leader(self, timeout: float) -> None:
        """Wait until this process is the leader (tests, failover)."""
        await asyncio.wait_for(self._became_leader.wait(), timeout)

    # ------------------------------------------------------------------ election
    async def _elect_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            try:
                await self._elect_once()
            except (RedisError, OSError) as error:
                log.warning("leader election: %s", error)
                if self.is_leader:
                    await self._step_down()

    async def _elect_once(self) -> None:
        assert self._redis is not None
        ttl_ms = int(self.lock_ttl * 1000)
        if self.is_leader:
            if not await self._renew(keys=[self.leader_key], args=[self.node_id, ttl_ms]):
                log.warning("lost the leader lock")
                await self._step_down()
            return
        if await self._redis.set(self.leader_key, self.node_id, nx=True, px=ttl_ms):
            await self._take_lead()

    async def _take_lead(self) -> None:
        assert self._redis is not None
        published = await self._redis.get(self.cursor_key)
        if published is not None and int(published) > self.hub.last_cursor:
            self.hub.skip_to(int(published))  # we missed the old leader's last envelopes
        # Processes joining from now on start their hubs at our cursor (see ``_follow_once``).
        await self._publish(
            keys=[self.leader_key, self.cursor_key], args=[self.node_id, self.channel, self.hub.last_cursor]
        )
        self.is_leader = True
        self._synced = True
        self._became_leader.set()
        log.info("gateway %s is the leader (cursor %d)", self.node_id, self.hub.last_cursor)
        self._leader_tasks = [
            asyncio.create_task(self._publish_loop(), name="ajam-bus-publish"),
            asyncio.create_task(self._serve_requests(), name="ajam-bus-requests"),
        ]
        if self.on_leader is not None:
            await self.on_leader()

    async def _step_down(self) -> None:
        self.is_leader = False
        self._synced = False
        self._became_leader.clear()
        for task in self._leader_tasks:
            task.cancel()
        await asyncio.gather(*self._leader_tasks, return_exceptions=True)
        self._leader_tasks = []
        while not self._outbox.empty():
            self._outbox.get_nowait()
        if self.on_follower is not None:
            await self.on_follower()

    # ------------------------------------------------------------------ leader → followers
    def _on_envelope(self, envelope: Envelope) -> None:
        if self.is_leader and not self._injecting:
            self._outbox.put_nowait(envelope)

    async def _publish_loop(self) -> None:
        """Publish what the hub delivered, in order, in batches (one script call per batch)."""
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            messages = [f'{{"node":"{self.node_id}","envelope":{envelope.json}}}' for envelope in batch]
            try:
                published = await self._publish(
                    keys=[self.leader_key, self.cursor_key],
                    args=[self.node_id, self.channel, batch[-1].cursor, *messages],
                )
            except (RedisError, OSError) as error:
                log.error("could not publish %d envelopes to the bus: %s", len(batch), error)
                continue
            if not published:
                log.warning("not the leader any more: %d envelopes stay local", len(batch))
                asyncio.get_running_loop().create_task(self._step_down())
                return
            self.forwarded += len(batch)

    # ------------------------------------------------------------------ followers
    async def _follow(self) -> None:
        """Follow the channel; after a lost connection, subscribe again (the next envelope tells whether
        some were missed: the hub then reports a gap to its clients)."""
        while True:
            try:
                await self._follow_once()
            except (RedisError, OSError) as error:
                log.warning("bus channel lost: %s; subscribing again", error)
                self._synced = self.is_leader
                await asyncio.sleep(0.5)

    async def _follow_once(self) -> None:
        assert self._redis is not None
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            if not self._subscribed.is_set():
                published = await self._redis.get(self.cursor_key)
                if published is not None and not self.is_leader:
                    # Envelopes up to there happened before we joined; the channel brings newer ones.
                    self.hub.skip_to(int(published))
                    self._synced = True
                self._subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._take(message["data"])
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _take(self, text: str) -> None:
        value = json.loads(text)
        if value.get("node") == self.node_id or self.is_leader:
            return
        envelope = Envelope.from_json(value["envelope"])
        self.received += 1
        if not self._synced:
            if envelope.cursor != self.hub.last_cursor + 1:
                self.hub.skip_to(envelope.cursor - 1)
            self._synced = True
        self._injecting = True
        try:
            self.hub.inject(envelope)
        finally:
            self._injecting = False

    # ------------------------------------------------------------------ forwarded requests
    async def request(self, kind: str, payload: dict[str, Any], *, timeout: float = 15.0) -> dict[str, Any]:
        """Run ``kind`` on the leader (here when this process leads) and return its JSON result."""
        if self.is_leader:
            return await self._run(kind, payload)
        assert self._redis is not None
        request_id = uuid.uuid4().hex
        reply_key = f"{self.prefix}:reply:{request_id}"
        message = {
            "id": request_id,
            "kind": kind,
            "payload": payload,
            "reply": reply_key,
            "deadline": time.time() + timeout,
        }
        await self._redis.rpush(self.requests_key, json.dumps(message))
        answer = await self._redis.blpop([reply_key], timeout=max(1, round(timeout)))
        if answer is None:
            raise BusError(f"no gateway leader answered {kind!r} within {timeout:.0f} s")
        result: dict[str, Any] = json.loads(answer[1])
        if "error" in result:
            raise BusError(str(result["error"]))
        return dict(result["result"])

    async def _run(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.handler is None:
            raise BusError("this gateway has no handler for forwarded requests")
        return await self.handler(kind, payload)

    async def _serve_requests(self) -> None:
        """Leader: take forwarded requests one by one and answer each on its reply list."""
        connection = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            while True:
                item = await connection.blpop([self.requests_key], timeout=1)
                if item is None:
                    continue
                request = json.loads(item[1])
                if float(request.get("deadline", 0)) < time.time():
                    continue  # the follower gave up waiting
                task = asyncio.get_running_loop().create_task(self._answer(request))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
        finally:
            await connection.aclose()

    async def _answer(self, request: dict[str, Any]) -> None:
        try:
            reply: dict[str, Any] = {
                "result": await self._run(str(request["kind"]), dict(request["payload"]))
            }
        except Exception as error:  # noqa: BLE001 — any handler failure goes back to the follower
            log.warning("forwarded %s failed: %s", request.get("kind"), error)
            reply = {"error": f"{type(error).__name__}: {error}"}
        if self._redis is None:
            return
        try:
            await self._redis.rpush(request["reply"], json.dumps(reply))
            await self._redis.expire(request["reply"], 60)
        except (RedisError, OSError) as error:
            log.warning("could not answer forwarded %s: %s", request.get("kind"), error)


@contextlib.asynccontextmanager
async def connect_bus(url: str, hub: EventHub, **options: Any) -> AsyncIterator[GatewayBus]:
    """A started :class:`GatewayBus` for ``hub`` (``options``: its keyword arguments), closed on exit."""
    bus = GatewayBus(url, hub, **options)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()
