from __future__ import annotations

import asyncio

import pytest

from ajam.client import AjamClient, connect, parse_url
from ajam.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    HeaderInjection,
    NotPublished,
    TransportMismatch,
)
from tests.client.replay import ReplayServer


def client_for(server: ReplayServer, **options: object) -> AjamClient:
    return AjamClient(parse_url(server.url(), env={}, config_path="/nonexistent"), **options)  # type: ignore[arg-type]


async def test_login_cookie_is_sent_back_on_one_kept_alive_connection() -> None:
    async with ReplayServer("http_03_rawman_ping", http=True) as server:
        async with client_for(server) as client:
            reply = await client.send("Ping")
            assert reply.response.get("Ping") == "Pong"
            assert client.cookie is not None and client.cookie.session_id == "ec587935"
        login, ping = server.received[0], server.received[1]
        assert login.startswith(b"POST /asterisk/rawman HTTP/1.1")
        assert login.endswith(b"action=Login&Username=admin&Secret=s3cret")
        assert ping.startswith(b"GET /asterisk/rawman?action=Ping&ActionID=")
        assert b'Cookie: mansession_id="ec587935"' in ping
        assert server.connections == 1


async def test_list_action_whole_list_in_one_body() -> None:
    async with ReplayServer("http_05_rawman_coreshowchannels_idle", http=True) as server:
        async with client_for(server) as client:
            reply = await client.send("CoreShowChannels")
        assert reply.response.starts_list
        assert [event.name for event in reply.events] == ["CoreShowChannelsComplete"]
        assert reply.events[-1]["ListItems"] == "0"


async def test_command_output() -> None:
    async with ReplayServer("http_06_rawman_command_core_show_version", http=True) as server:
        async with client_for(server) as client:
            reply = await client.send("Command", {"Command": "core show version"})
        assert reply.output[0].startswith("Asterisk 22")


async def test_post_form() -> None:
    async with ReplayServer("http_03_rawman_ping", http=True) as server:
        async with client_for(server, method="POST") as client:
            await client.send("Ping")
        assert server.received[1].startswith(b"POST /asterisk/rawman ")
        assert b"action=Ping" in server.received[1]


async def test_login_failure() -> None:
    async with ReplayServer("http_02_rawman_login_failure", http=True) as server:
        url = parse_url(server.url(secret="wrong"), env={}, config_path="/nonexistent")
        with pytest.raises(AuthenticationFailed) as caught:
            await connect(url)
        assert "wrong" not in str(caught.value).replace("wrong secret", "")
        assert "Authentication failed" in str(caught.value)


async def test_not_published_404_gives_the_advice() -> None:
    async with ReplayServer("http_17_webenabled_no_404", http=True) as server:
        with pytest.raises(NotPublished) as caught:
            await connect(parse_url(server.url(), env={}, config_path="/nonexistent"))
        assert "webenabled = yes" in str(caught.value)
        assert "s3cret" not in str(caught.value)


async def test_injection_refused_before_a_request() -> None:
    async with ReplayServer("http_03_rawman_ping", http=True) as server, client_for(server) as client:
        count = len(server.received)
        with pytest.raises(HeaderInjection):
            await client.send("Command", {"Command": "core show version\r\nAction: Originate"})
        assert len(server.received) == count


async def test_http_url_to_the_ami_port_is_a_transport_mismatch() -> None:
    async def ami(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        await reader.read(1000)
        writer.close()

    server = await asyncio.start_server(ami, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportMismatch) as caught:
            await connect(f"http://admin:s3cret@127.0.0.1:{port}/asterisk")
        assert "ami://" in str(caught.value)
    finally:
        server.close()


async def test_https_to_a_plain_http_port_is_a_transport_mismatch() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportMismatch) as caught:
            await connect(f"https://admin:s3cret@127.0.0.1:{port}/asterisk/rawman")
        assert "use http://" in str(caught.value)
    finally:
        server.close()


async def test_refused_connection() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionFailed):
        await connect(f"http://admin:s3cret@127.0.0.1:{port}/asterisk")


async def test_actions_reuse_one_connection() -> None:
    async with ReplayServer("http_03_rawman_ping", http=True) as server, client_for(server) as client:
        await client.send("Ping")
        await client.send("Ping")
        assert client.stats.http_connections == 1
