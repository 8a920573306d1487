from __future__ import annotations

import asyncio

import pytest

from ajam.client import AmiClient, connect, parse_url
from ajam.client.base import NOTICE_DISCONNECTED, NOTICE_RECONNECTED
from ajam.errors import (
    ActionFailed,
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
    HeaderInjection,
    PermissionDenied,
    TransportMismatch,
)
from ajam.protocol.auth import challenge_key
from ajam.protocol.message import Event
from tests.client.replay import ReplayServer


def client_for(server: ReplayServer, **options: object) -> AmiClient:
    return AmiClient(parse_url(server.url(), env={}, config_path="/nonexistent"), keepalive=None, **options)  # type: ignore[arg-type]


async def test_login_then_logoff_on_close() -> None:
    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        async with client:
            assert client.connected
            assert client.banner is not None and client.banner.version == "11.0.0"
        assert not client.connected
        assert server.received[0].startswith(
            b"Action: Login\r\nUsername: admin\r\nSecret: s3cret\r\nActionID: "
        )
        assert server.received[-1].startswith(b"Action: Logoff\r\n")


async def test_events_after_login_reach_the_iterator() -> None:
    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        stream = client.events()
        async with client:
            names = [(await asyncio.wait_for(stream.__anext__(), 2)).name for _ in range(2)]
        assert names == ["FullyBooted", "SuccessfulAuth"]
        assert client.stats.events_received == 2


async def test_md5_challenge_login_sends_the_key_not_the_secret() -> None:
    async with ReplayServer("ami_04_challenge_md5_login") as server:
        client = AmiClient(
            parse_url(server.url() + "?auth=md5", env={}, config_path="/nonexistent"), keepalive=None
        )
        async with client:
            reply = await client.send("Ping")
            assert reply.response.get("Ping") == "Pong"
        challenge, login = server.received[0], server.received[1]
        assert challenge.startswith(b"Action: Challenge\r\nAuthType: MD5\r\n")
        assert b"Key: " + challenge_key("513766598", "s3cret").encode() in login
        assert b"s3cret" not in b"".join(server.received)


async def test_command_output_and_unknown_command_error() -> None:
    async with ReplayServer("ami_09_command_multiline_unknown_empty") as server, client_for(server) as client:
        uptime = await client.send("Command", {"Command": "core show uptime"})
        assert uptime.output and uptime.output[0].startswith("System uptime")
        multi = await client.send("Command", {"Command": "core show help"})
        assert len(multi.output) > 1
        with pytest.raises(ActionFailed) as caught:
            await client.send("Command", {"Command": "no such command"})
        assert caught.value.response is not None
        unchecked = await client.send("Command", check=False)
        assert unchecked.response.status == "Error"


async def test_list_actions_collect_events_until_complete() -> None:
    async with ReplayServer("ami_12_eventlist_variants") as server, client_for(server) as client:
        queue = await client.send("QueueStatus")
        assert queue.response.starts_list
        assert queue.events[0].name == "QueueParams"
        assert queue.events[-1].ends_list and queue.events[-1].name == "QueueStatusComplete"
        summary = await client.send("QueueSummary")
        assert summary.events[-1].name == "QueueSummaryComplete"


async def test_permission_denied_names_the_needed_class() -> None:
    async with ReplayServer("ami_60_limited_user_permission_denied") as server, client_for(server) as client:
        assert (await client.send("Ping")).ok
        with pytest.raises(PermissionDenied) as caught:
            await client.send("Command", {"Command": "core show version"})
        assert caught.value.required == ("command",)
        reply = await client.send("CoreShowChannels", check=False)
        assert reply.response.message == "Permission denied"


async def test_bad_login_raises_without_the_secret() -> None:
    async with ReplayServer("ami_03_login_failure") as server:
        url = parse_url(server.url(secret="wrongsecret"), env={}, config_path="/nonexistent")
        with pytest.raises(AuthenticationFailed) as caught:
            await connect(url, keepalive=None)
        assert "wrongsecret" not in str(caught.value)
        assert "admin" in str(caught.value)


async def test_injection_is_refused_before_anything_is_sent() -> None:
    async with ReplayServer("ami_02_login_success") as server, client_for(server) as client:
        sent_before = list(server.received)
        with pytest.raises(HeaderInjection):
            await client.send("Originate", {"Channel": "Local/1@test\r\nAction: Command"})
        await asyncio.sleep(0.05)
        assert server.received == sent_before


async def test_refused_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionFailed) as caught:
        await connect(f"ami://admin:s3cret@127.0.0.1:{port}", keepalive=None)
    assert "s3cret" not in str(caught.value)


async def _serve_bytes(data: bytes, respond_to_probe: bytes = b"") -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        try:
            if respond_to_probe:
                await reader.read(10)
                writer.write(respond_to_probe)
            await asyncio.sleep(2)
        except asyncio.CancelledError:
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("greeting", "probe_answer", "expected"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", b"", "use an http:// URL"),
        (b"", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "use an http:// URL"),
        (b"", b"\x15\x03\x01\x00\x02\x02\x32", "use amis://"),
        (b"SSH-2.0-OpenSSH\r\n", b"", "AMI banner"),
    ],
)
async def test_non_ami_peer_is_a_transport_mismatch(
    greeting: bytes, probe_answer: bytes, expected: str
) -> None:
    server = await _serve_bytes(greeting, probe_answer)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportMismatch) as caught:
            await connect(f"ami://admin:s3cret@127.0.0.1:{port}", keepalive=None, banner_timeout=0.2)
        assert expected in str(caught.value)
    finally:
        server.close()


class _FlakyPbx:
    """Greets, accepts any login, answers Ping; never answers 'Hang' (so it stays pending)."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.received: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                message = await reader.readuntil(b"\r\n\r\n")
                self.received.append(message)
                action_id = message.split(b"ActionID: ")[1].split(b"\r\n")[0]
                if message.startswith(b"Action: Login"):
                    self.logins += 1
                if message.startswith(b"Action: Hang"):
                    continue
                writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass


async def test_drop_fails_pending_at_once_then_reconnects_and_restores_filters() -> None:
    pbx = _FlakyPbx()
    server = await asyncio.start_server(pbx.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient(
        parse_url(f"ami://admin:s3cret@127.0.0.1:{port}", env={}, config_path="/nonexistent"),
        keepalive=None,
        backoff_initial=0.05,
    )
    try:
        await client.connect()
        await client.set_eventmask("call")
        await client.add_filter(match_criteria="action(include),name(Hangup)")
        stream = client.events()
        pending = asyncio.create_task(client.send("Hang", timeout=30))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        pbx.writers[-1].transport.abort()
        with pytest.raises(ConnectionLost):
            await pending
        assert loop.time() - started < 1.0
        first = await asyncio.wait_for(stream.__anext__(), 2)
        second = await asyncio.wait_for(stream.__anext__(), 5)
        assert (first.name, second.name) == (NOTICE_DISCONNECTED, NOTICE_RECONNECTED)
        assert pbx.logins == 2 and client.stats.reconnects == 1
        relogin = [m for m in pbx.received if m.startswith(b"Action: Login")][-1]
        assert b"Events: call\r\n" in relogin
        assert pbx.received[-1].startswith(
            b"Action: Filter\r\nOperation: Add\r\nMatchCriteria: action(include)"
        )
        assert (await client.send("Ping")).ok
    finally:
        await client.close()
        server.close()


async def test_keepalive_ping_detects_a_silent_peer() -> None:
    silent_after_login: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        silent_after_login.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        message = await reader.readuntil(b"\r\n\r\n")
        action_id = message.split(b"ActionID: ")[1].split(b"\r\n")[0]
        writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\n\r\n")
        await asyncio.sleep(10)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient(
        parse_url(f"ami://admin:s3cret@127.0.0.1:{port}", env={}, config_path="/nonexistent"),
        keepalive=0.1,
        keepalive_timeout=0.2,
        reconnect=False,
    )
    try:
        stream = client.events()
        await client.connect()
        event = await asyncio.wait_for(stream.__anext__(), 3)
        assert event.name == NOTICE_DISCONNECTED
        assert not client.connected
    finally:
        await client.close()
        server.close()


async def test_slow_consumer_overflow_is_counted_and_announced() -> None:
    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        stream = client.events(maxsize=1)
        async with client:
            await asyncio.sleep(0.1)
            assert client.stats.events_dropped == 1
            assert (await stream.__anext__()).name == "FullyBooted"
            client._deliver(Event([("Event", "Newchannel")]))
            gap = await stream.__anext__()
            assert gap.name == "AjamGap" and gap["Reason"] == "queue overflow" and gap["Dropped"] == "1"
            assert client.stats.events_dropped == 2


async def test_stalled_async_handlers_are_bounded_and_counted() -> None:
    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        client.event_queue_size = 3
        release = asyncio.Event()
        finished: list[str] = []

        async def stalled(event: Event) -> None:
            await release.wait()
            finished.append(event["Uniqueid"])

        client.on("Newchannel", stalled)
        async with client:
            for number in range(5):
                client._deliver(Event([("Event", "Newchannel"), ("Uniqueid", str(number))]))
            assert client.stats.handler_calls_dropped == 2
            release.set()
            await asyncio.sleep(0.05)
        assert finished == ["0", "1", "2"]


async def test_handlers_by_glob_sync_and_async_and_client_filter() -> None:
    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        seen: list[str] = []
        done = asyncio.Event()

        async def on_auth(event: object) -> None:
            seen.append("async:" + event.name)  # type: ignore[attr-defined]
            done.set()

        client.on("fully*", lambda event: seen.append("sync:" + event.name))
        client.on("SuccessfulAuth", on_auth)
        async with client:
            await asyncio.wait_for(done.wait(), 2)
        assert seen == ["sync:FullyBooted", "async:SuccessfulAuth"]

    async with ReplayServer("ami_02_login_success") as server:
        client = client_for(server)
        client.filter_events("successful*")
        names: list[str] = []
        client.on("*", lambda event: names.append(event.name))
        async with client:
            await asyncio.sleep(0.1)
        assert names == ["SuccessfulAuth"] and client.stats.events_filtered == 1
