"""End to end: every transport of the real simulator (``ajam.sim.server.SimulatedPbx``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

import ajam.sim.server as server_module
from ajam.client import AjamClient, AmiClient, ManagerClient, connect, create_client, parse_url
from ajam.client.base import NOTICE_DISCONNECTED, NOTICE_GAP, NOTICE_RECONNECTED, EventStream
from ajam.errors import AuthenticationFailed, ConnectionLost, NotPublished, PermissionDenied

SimulatedPbx = server_module.SimulatedPbx

KINDS = ["ami", "rawman", "mxml", "manager", "arawman", "amxml"]


def url_of(sim: Any, kind: str, user: str = "admin", secret: str | None = None) -> str:
    """``sim.url(kind, user)``, with another secret when given."""
    url: str = sim.url(kind, user)
    if secret is None:
        return url
    parts = urlsplit(url)
    netloc = f"{user}:{secret}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    pbx = SimulatedPbx(login_failure_delay=0.0)
    await pbx.start()
    try:
        yield pbx
    finally:
        await pbx.stop()


async def next_named(stream: EventStream, name: str, timeout: float = 5.0) -> Any:
    async def find() -> Any:
        async for event in stream:
            if event.name == name:
                return event
        raise AssertionError(f"stream ended before {name}")

    return await asyncio.wait_for(find(), timeout)


def fast(kind: str) -> dict[str, Any]:
    return {"keepalive": None} if kind == "ami" else {"wait_timeout": 1}


@pytest.mark.parametrize("kind", KINDS)
async def test_ping_list_and_command_on_every_transport(sim: Any, kind: str) -> None:
    async with await connect(url_of(sim, kind), **fast(kind)) as client:
        ping = await client.send("Ping")
        assert ping.response.get("Ping") == "Pong"
        channels = await client.send("CoreShowChannels")
        assert channels.response.starts_list
        assert channels.events[-1].name == "CoreShowChannelsComplete"
        assert channels.events[-1].ends_list
        version = await client.send("Command", {"Command": "core show version"})
        assert any("Asterisk" in line for line in version.output)


@pytest.mark.parametrize("kind", KINDS)
async def test_permission_denied_on_every_transport(sim: Any, kind: str) -> None:
    async with await connect(url_of(sim, kind, "limited"), **fast(kind)) as client:
        assert (await client.send("Ping")).ok
        with pytest.raises(PermissionDenied) as caught:
            await client.send("Command", {"Command": "core show version"})
        assert caught.value.required == ("command",)


@pytest.mark.parametrize("kind", KINDS)
async def test_auth_failure_on_every_transport(sim: Any, kind: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        await connect(url_of(sim, kind, secret="not-the-secret"), **fast(kind))
    assert "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize("kind", ["ami", "rawman", "arawman"])
async def test_events_arrive_and_delay_is_measured(sim: Any, kind: str) -> None:
    client = create_client(url_of(sim, kind), **fast(kind))
    stream = client.events()
    async with client:
        await asyncio.sleep(0.2)  # the WaitEvent loop is polling
        loop = asyncio.get_running_loop()
        started = loop.time()
        sim.publish([("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "e2e")])
        event = await next_named(stream, "UserEvent")
        delay = loop.time() - started
        assert event["UserEvent"] == "e2e"
        assert delay < 3.0, f"event took {delay:.3f} s over {kind}"


async def test_tcp_drop_fails_pending_at_once_and_reconnects(sim: Any) -> None:
    client = AmiClient(parse_url(url_of(sim, "ami")), keepalive=None, backoff_initial=0.05)
    stream = client.events()
    async with client:
        await client.add_filter(match_criteria="action(include),name(UserEvent)")
        sim.faults.slow_responses(1.0)
        pending = asyncio.create_task(client.send("Ping", timeout=30))
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        dropped_at = loop.time()
        sim.faults.drop_connections()
        with pytest.raises(ConnectionLost):
            await pending
        assert loop.time() - dropped_at < 1.0
        sim.faults.slow_responses(0)
        await next_named(stream, NOTICE_DISCONNECTED)
        await next_named(stream, NOTICE_RECONNECTED)
        assert (await client.send("Ping")).ok
        sim.publish([("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", "x")])
        sim.publish([("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "after")])
        event = await asyncio.wait_for(stream.__anext__(), 5)
        assert event.name == "UserEvent"  # the restored filter kept Newchannel out


async def test_ajam_session_expiry_gap_and_transparent_relogin(sim: Any) -> None:
    client = create_client(url_of(sim, "rawman"), wait_timeout=1)
    assert isinstance(client, AjamClient)
    stream = client.events()
    async with client:
        await asyncio.sleep(0.2)
        sim.faults.expire_http_sessions()
        assert (await client.send("Ping")).ok
        gap = await next_named(stream, NOTICE_GAP)
        assert gap["Reason"] == "session expired"
        assert client.stats.session_renewals >= 1
        sim.publish([("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "after-gap")])
        assert (await next_named(stream, "UserEvent"))["UserEvent"] == "after-gap"


async def test_webenabled_no_gives_not_published_with_advice() -> None:
    pbx = SimulatedPbx(webenabled=False)
    await pbx.start()
    try:
        with pytest.raises(NotPublished) as caught:
            await connect(url_of(pbx, "rawman"))
        assert "webenabled = yes" in str(caught.value)
    finally:
        await pbx.stop()


async def _count(client: ManagerClient) -> int:
    return client.stats.http_connections


async def test_http_actions_share_one_connection(sim: Any) -> None:
    async with await connect(url_of(sim, "rawman")) as client:
        for _ in range(5):
            await client.send("Ping")
        assert await _count(client) == 1


async def test_http_drop_fails_the_action_and_waitevent_loop_recovers(sim: Any) -> None:
    client = create_client(url_of(sim, "rawman"), wait_timeout=1, backoff_initial=0.05)
    stream = client.events()
    async with client:
        await asyncio.sleep(0.2)
        sim.faults.slow_responses(1.0)
        pending = asyncio.create_task(client.send("Ping", timeout=30))
        await asyncio.sleep(0.1)
        sim.faults.drop_connections()
        with pytest.raises(ConnectionLost):
            await pending
        sim.faults.slow_responses(0)
        await next_named(stream, NOTICE_DISCONNECTED)
        await next_named(stream, NOTICE_RECONNECTED)
        assert (await client.send("Ping")).ok


def test_sync_facade_against_the_simulator() -> None:
    from ajam.client import sync

    with (
        server_module.running_simulator() as running,
        sync.connect(running.url("rawman"), wait_timeout=1) as client,
    ):
        assert client.send("Ping").response.get("Ping") == "Pong"
        events = client.events(timeout=1.0)
        first = next(events)
        assert first.name == "SuccessfulAuth"
        running.call_soon(
            running.publish, [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "s")]
        )
        assert next(e for e in events if e.name == "UserEvent")["UserEvent"] == "s"
