from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from ajam.errors import MessageTooLarge
from ajam.sim.server import SimulatedPbx, running_simulator
from tests.sim.amitalk import AmiTalk

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedPbx]:
    async with SimulatedPbx(speed=20) as simulator:
        yield simulator


async def test_drop_connections_closes_every_socket(sim: SimulatedPbx) -> None:
    first, second = await AmiTalk.connect(sim.ami_port), await AmiTalk.connect(sim.ami_port)
    await first.login(Events="off")
    await second.next()
    assert sim.faults.drop_connections() == 2
    assert await first.closed() and await second.closed()


async def test_restart_listens_again_on_the_same_ports_and_forgets_sessions(sim: SimulatedPbx) -> None:
    ami_port, http_port = sim.ami_port, sim.http_port
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{http_port}/asterisk/rawman"
        await client.get(url, params={"action": "Login", "username": "admin", "secret": "s3cret"})
        cookie = client.cookies["mansession_id"]
        ami = await AmiTalk.connect(ami_port)
        await ami.login(Events="off")
        await sim.faults.restart(downtime=0.1)
        assert await ami.closed()
        assert (sim.ami_port, sim.http_port) == (ami_port, http_port)
        again = await AmiTalk.connect(ami_port)
        assert (await again.login(Events="off")).get("Response") == "Success"
        again.close()
    async with httpx.AsyncClient() as fresh:
        reply = await fresh.get(
            url, params={"action": "Ping"}, headers={"Cookie": f'mansession_id="{cookie}"'}
        )
        assert b"Permission denied" in reply.content


async def test_restart_keeping_calls(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send(
        "Originate", Channel="Local/autoanswer@test", Context="test", Exten="sink", Priority="1", Async="true"
    )
    await ami.message()
    await asyncio.sleep(0.2)
    await sim.faults.restart(keep_calls=True)
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("CoreShowChannels", ActionID="c")
    assert (await ami.until("CoreShowChannelsComplete")).get("ListItems") == "2"
    await sim.faults.restart(keep_calls=False)
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("CoreShowChannels", ActionID="c")
    assert (await ami.until("CoreShowChannelsComplete")).get("ListItems") == "0"
    ami.close()


async def test_slow_responses(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    sim.faults.slow_responses(0.3)
    started = time.monotonic()
    ami.send("Ping")
    await ami.message()
    assert time.monotonic() - started >= 0.3
    sim.faults.slow_responses(0)
    ami.close()


async def test_expire_http_sessions(sim: SimulatedPbx) -> None:
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{sim.http_port}/asterisk/rawman"
        await client.get(url, params={"action": "Login", "username": "admin", "secret": "s3cret"})
        assert sim.faults.expire_http_sessions() == 1
        reply = await client.get(url, params={"action": "Ping"})
        assert b"Permission denied" in reply.content


async def test_malformed_and_oversized_frames_reach_logged_in_clients(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    waiting = await AmiTalk.connect(sim.ami_port)
    await waiting.next()
    assert sim.faults.send_malformed_frame() == 1
    malformed = await ami.message()
    assert malformed.lines  # colon-less lines kept by the parser
    sim.faults.send_oversized_frame(100 * 1024)
    with pytest.raises(MessageTooLarge):
        await ami.next()
    ami.send("Ping", ActionID="after")
    assert (await ami.message()).get("ActionID") == "after"
    ami.close()
    waiting.close()


async def test_event_burst_rate(sim: SimulatedPbx) -> None:
    ami = await AmiTalk.connect(sim.ami_port)
    await ami.login(Events="off")
    ami.send("Events", EventMask="user")
    await ami.message()
    started = time.monotonic()
    await sim.faults.event_burst(10, per_second=50)
    assert time.monotonic() - started >= 0.15
    sequences = [(await ami.message()).get("Sequence") for _ in range(10)]
    assert sequences == [str(n) for n in range(1, 11)]
    await sim.faults.event_burst(2000)
    for _ in range(2000):
        await ami.message()
    ami.close()


def test_running_simulator_in_a_thread() -> None:
    with running_simulator(login_failure_delay=0) as sim:
        with socket.create_connection(("127.0.0.1", sim.ami_port), timeout=5) as sock:
            assert sock.recv(100) == b"Asterisk Call Manager/11.0.0\r\n"
            assert sim.call_soon(sim.faults.drop_connections).result(5) == 1
            try:
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass  # an aborted socket may be reset rather than closed
        assert sim.call_soon(sim.faults.event_burst, 3).result(5) is None
        assert (
            sim.url("rawman", "limited")
            == f"http://limited:limited1@127.0.0.1:{sim.http_port}/asterisk/rawman"
        )
        assert sim.url() == f"ami://admin:s3cret@127.0.0.1:{sim.ami_port}"
