from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from ajam.protocol.http import Encoder, parse_body
from ajam.protocol.stream import parse_messages
from ajam.sim.server import SimulatedPbx

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedPbx]:
    async with SimulatedPbx(login_failure_delay=0.05, httptimeout=12) as simulator:
        yield simulator


def base(sim: SimulatedPbx) -> str:
    return f"http://127.0.0.1:{sim.http_port}/asterisk"


async def login(client: httpx.AsyncClient, sim: SimulatedPbx) -> None:
    reply = await client.get(
        f"{base(sim)}/rawman", params={"action": "Login", "username": "admin", "secret": "s3cret"}
    )
    assert b"Authentication accepted" in reply.content


async def test_cookie_session_and_max_age(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient() as client:
        await login(client, sim)
        assert client.cookies.get("mansession_id") is not None
        reply = await client.get(f"{base(sim)}/rawman", params={"action": "Ping"})
        assert reply.headers["set-cookie"].endswith("; Version=1; Max-Age=12")
        assert parse_messages(reply.content)[0].get("Ping") == "Pong"
        assert reply.headers["content-type"] == "text/plain"


async def test_session_expires_after_httptimeout() -> None:
    async with SimulatedPbx(httptimeout=1) as sim, httpx.AsyncClient() as client:
        await login(client, sim)
        await asyncio.sleep(1.3)
        reply = await client.get(f"{base(sim)}/rawman", params={"action": "Ping"})
        assert b"Permission denied" in reply.content


async def test_waitevent_answers_as_soon_as_an_event_is_queued(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient() as client:
        await login(client, sim)
        first = await client.get(f"{base(sim)}/rawman", params={"action": "WaitEvent", "timeout": "5"})
        assert [m.get("Event") for m in parse_messages(first.content)][1:] == [
            "SuccessfulAuth",
            "WaitEventComplete",
        ]

        async def publish_later() -> float:
            await asyncio.sleep(0.3)
            sim.publish([("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "Now")])
            return time.monotonic()

        task = asyncio.create_task(publish_later())
        reply = await client.get(
            f"{base(sim)}/rawman", params={"action": "WaitEvent", "timeout": "5", "ActionID": "w"}
        )
        answered = time.monotonic()
        published = await task
        assert answered - published < 0.1
        messages = parse_messages(reply.content)
        assert [m.get("Event") for m in messages] == [None, "UserEvent", "WaitEventComplete"]
        assert messages[-1].get("ActionID") == "w"


async def test_waitevent_timeout_capped_at_httptimeout_minus_10(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, sim)
        await client.get(f"{base(sim)}/rawman", params={"action": "WaitEvent"})
        started = time.monotonic()
        reply = await client.get(f"{base(sim)}/rawman", params={"action": "WaitEvent", "timeout": "30"})
        assert 1.8 < time.monotonic() - started < 3
        assert [m.get("Event") for m in parse_messages(reply.content)] == [None, "WaitEventComplete"]


async def test_digest_endpoints_work_with_httpx_digest_auth(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient(auth=httpx.DigestAuth("admin", "s3cret")) as client:
        reply = await client.get(f"{base(sim)}/amxml", params={"action": "Ping"})
        assert reply.status_code == 200 and "set-cookie" not in reply.headers
        assert parse_body(Encoder.MXML, reply.content)[0].get("Ping") == "Pong"
        again = await client.get(f"{base(sim)}/arawman", params={"action": "CoreShowChannels"})
        assert parse_messages(again.content)[-1].get("ListItems") == "0"
    async with httpx.AsyncClient(auth=httpx.DigestAuth("admin", "wrong")) as client:
        refused = await client.get(f"{base(sim)}/arawman", params={"action": "Ping"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith(
            'Digest algorithm=MD5, realm="asterisk", nonce="'
        )


async def test_post_form_and_html_encoder(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient() as client:
        reply = await client.post(
            f"{base(sim)}/manager", data={"action": "Login", "username": "admin", "secret": "s3cret"}
        )
        assert reply.headers["content-type"] == "text/html"
        assert parse_body(Encoder.MANAGER, reply.content)[0].get("Message") == "Authentication accepted"


async def test_keep_alive_reuses_the_connection_and_honours_connection_close(sim: SimulatedPbx) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.http_port)
    request = b"GET /asterisk/rawman?action=Ping HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(2):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection" not in head
        await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    writer.write(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    head = await reader.readuntil(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in head
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    assert await asyncio.wait_for(reader.read(1), 2) == b""
    writer.close()


async def test_idle_keep_alive_connection_is_closed() -> None:
    async with SimulatedPbx(keep_alive=0.2) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.http_port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(1), 2) == b""
        assert time.monotonic() - started < 1
        writer.close()


async def test_webenabled_false_gives_404_everywhere() -> None:
    async with SimulatedPbx(webenabled=False) as sim, httpx.AsyncClient() as client:
        for name in ("rawman", "mxml", "manager", "arawman"):
            reply = await client.get(f"{base(sim)}/{name}", params={"action": "Ping"})
            assert reply.status_code == 404 and b"<h1>Not Found</h1>" in reply.content


async def test_logoff_destroys_the_cookie_session(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient() as client:
        await login(client, sim)
        old = client.cookies["mansession_id"]
        reply = await client.get(f"{base(sim)}/rawman", params={"action": "Logoff"})
        assert b"Response: Goodbye" in reply.content
    async with httpx.AsyncClient() as fresh:
        headers = {"Cookie": f'mansession_id="{old}"'}
        denied = await fresh.get(f"{base(sim)}/rawman", params={"action": "Ping"}, headers=headers)
        assert b"Permission denied" in denied.content
        assert f'"{old}"' not in denied.headers["set-cookie"]


async def test_stop_does_not_wait_for_a_pending_waitevent() -> None:
    sim = SimulatedPbx()
    await sim.start()
    async with httpx.AsyncClient(timeout=10) as client:
        await login(client, sim)
        await client.get(f"{base(sim)}/rawman", params={"action": "WaitEvent"})
        poll = asyncio.create_task(
            client.get(f"{base(sim)}/rawman", params={"action": "WaitEvent", "timeout": "40"})
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 1
        with pytest.raises(httpx.HTTPError):
            await poll
