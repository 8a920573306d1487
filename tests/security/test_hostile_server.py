"""Hostile peers: a 100 MB line, a message that never ends, an enormous HTTP body.

Each server is a tiny asyncio TCP server in the test. The bounds asserted:

* memory: the peak traced by ``tracemalloc`` while the client faces the peer stays under
  ``3 x max_message_size`` (the parser's limit, 4 MiB by default) plus 1 MiB of slack;
* time: the client gives up (or carries on) within a few seconds — no hang, no unbounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Self

import pytest

from ajam.client.http import AjamClient
from ajam.client.tcp import AmiClient
from ajam.client.url import parse_url
from ajam.errors import AjamError, MessageTooLarge, RemoteProtocolError
from ajam.protocol.stream import DEFAULT_MAX_MESSAGE_SIZE, StreamParser
from tests.protocol.test_mxml import EXTERNAL_DTD, EXTERNAL_ENTITY

MIB = 1024 * 1024
HUGE = 100 * MIB
MEMORY_BOUND = 3 * DEFAULT_MAX_MESSAGE_SIZE + MIB
TIME_BOUND = 8.0
CHUNK = b"A" * MIB  # allocated once, before tracing starts: the server's sends cost nothing traced
BANNER = b"Asterisk Call Manager/9.0.0\r\n"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


async def read_message(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def send_huge_line(writer: asyncio.StreamWriter, total: int = HUGE, end: bytes = b"\r\n\r\n") -> None:
    for _ in range(total // len(CHUNK)):
        writer.write(CHUNK)
        await writer.drain()
    writer.write(end)
    await writer.drain()


async def endless_headers(writer: asyncio.StreamWriter) -> None:
    """``Key: value`` lines forever, never the blank line that would end the message."""
    line = b"X-Garbage: " + b"g" * 1000 + b"\r\n"
    block = line * 1000
    while True:
        writer.write(block)
        await writer.drain()


class Traced:
    def __enter__(self) -> Self:
        tracemalloc.start()
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.elapsed = time.monotonic() - self.started


def ami_client(port: int) -> AmiClient:
    url = parse_url(f"ami://admin:s3cret@127.0.0.1:{port}")
    return AmiClient(url, connect_timeout=0.5, keepalive=None, reconnect=False)


# ------------------------------------------------------------------------------------------ parser
@pytest.mark.parametrize("shape", ["one_line", "endless_headers"])
def test_parser_bounds_a_100_mb_message(shape: str) -> None:
    parser = StreamParser()
    parser.receive_data(BANNER)
    next(iter(parser))
    chunk = CHUNK if shape == "one_line" else (b"X-Garbage: " + b"g" * 1000 + b"\r\n") * 1000
    errors = 0
    with Traced() as traced:
        for _ in range(HUGE // len(chunk)):
            parser.receive_data(chunk)
            try:
                assert parser.next_message() is None
            except MessageTooLarge:
                errors += 1
            assert parser.buffered <= DEFAULT_MAX_MESSAGE_SIZE + len(chunk)
        parser.receive_data(b"\r\n\r\nResponse: Success\r\nActionID: 1\r\n\r\n")
        resumed = parser.next_message()
    assert errors == 1, "one clear MessageTooLarge, then the rest is skipped"
    assert resumed is not None and resumed.get("ActionID") == "1", "parser resynchronises at the blank line"
    assert traced.peak < MEMORY_BOUND, f"peak {traced.peak / MIB:.1f} MiB"


# ------------------------------------------------------------------------------------------ AMI client
@pytest.mark.parametrize("garbage", ["huge_line", "endless_headers"])
async def test_ami_login_against_garbage_is_bounded(garbage: str, caplog: pytest.LogCaptureFixture) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        await read_message(reader)
        if garbage == "huge_line":
            await send_huge_line(writer)
        else:
            await endless_headers(writer)
        await asyncio.sleep(30)

    caplog.set_level(logging.WARNING, logger="ajam.client.tcp")
    async with hostile_server(handler) as port:
        client = ami_client(port)
        with Traced() as traced:
            with pytest.raises(AjamError):
                await asyncio.wait_for(client.connect(), TIME_BOUND)
        await client.close()
    assert traced.elapsed < TIME_BOUND
    assert traced.peak < MEMORY_BOUND, f"peak {traced.peak / MIB:.1f} MiB"
    assert any("exceeds the limit" in record.getMessage() for record in caplog.records), caplog.text


async def test_ami_login_fails_with_the_protocol_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        await read_message(reader)
        await send_huge_line(writer, total=8 * MIB)
        await asyncio.sleep(30)

    async with hostile_server(handler) as port:
        client = ami_client(port)
        try:
            with pytest.raises(RemoteProtocolError):
                await asyncio.wait_for(client.connect(), TIME_BOUND)
        finally:
            await client.close()


async def test_ami_session_survives_an_oversized_event(caplog: pytest.LogCaptureFixture) -> None:
    """After login, a 100 MB event is skipped (one warning) and the next action still gets its answer."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        while True:
            request = await read_message(reader)
            action_id = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"actionid:")
            )
            if b"Action: Login" in request:
                writer.write(b"Event: Huge\r\nData: ")
                await send_huge_line(writer)
            writer.write(b"Response: Success\r\nActionID: " + action_id + b"\r\nPing: Pong\r\n\r\n")
            await writer.drain()

    caplog.set_level(logging.WARNING, logger="ajam.client.tcp")
    async with hostile_server(handler) as port:
        client = ami_client(port)
        with Traced() as traced:
            await asyncio.wait_for(client.connect(), TIME_BOUND)
            reply = await asyncio.wait_for(client.send("Ping"), TIME_BOUND)
        await client.close()
    assert reply.response.get("Ping") == "Pong"
    assert traced.elapsed < 2 * TIME_BOUND
    assert traced.peak < MEMORY_BOUND, f"peak {traced.peak / MIB:.1f} MiB"
    assert sum("exceeds the limit" in r.getMessage() for r in caplog.records) == 1


async def test_non_ami_peer_sending_an_endless_banner_line() -> None:
    """A peer whose first line never ends: refused after MAX_BANNER_SIZE, not buffered forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send_huge_line(writer, total=HUGE, end=b"")

    async with hostile_server(handler) as port:
        client = ami_client(port)
        with Traced() as traced:
            with pytest.raises(AjamError) as refused:
                await asyncio.wait_for(client.connect(), TIME_BOUND)
        await client.close()
    assert "AMI" in str(refused.value) or "banner" in str(refused.value)
    assert traced.peak < MEMORY_BOUND


# ------------------------------------------------------------------------------------------ HTTP body
async def read_request(reader: asyncio.StreamReader) -> None:
    """Read one HTTP request (head and Content-Length body) and ignore it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [
        line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    ]
    if lengths and int(lengths[0]):
        await reader.readexactly(int(lengths[0]))


def http_handler(body_size: int) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        prefix = b"Response: Success\r\nMessage: "
        chunks = body_size // len(CHUNK)
        length = len(prefix) + chunks * len(CHUNK) + 4
        writer.write(
            b"HTTP/1.1 200 OK\r\nServer: Asterisk/22.0.0\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n" + prefix
        )
        await send_huge_line(writer, total=chunks * len(CHUNK), end=b"\r\n\r\n")
        await asyncio.sleep(30)

    return handler


async def test_ajam_client_bounds_an_enormous_rawman_body() -> None:
    async with hostile_server(http_handler(HUGE)) as port:
        client = AjamClient(parse_url(f"http://admin:s3cret@127.0.0.1:{port}/asterisk/rawman"))
        try:
            with Traced() as traced:
                with pytest.raises(RemoteProtocolError):
                    await asyncio.wait_for(client.connect(), 4 * TIME_BOUND)
        finally:
            await client.close()
    assert traced.peak < MEMORY_BOUND, f"peak {traced.peak / MIB:.1f} MiB"


# ------------------------------------------------------------------------------------------ mxml entity bombs
def billion_laughs(levels: int = 10) -> bytes:
    """The classic bomb: 10 ** (levels - 1) copies of "lol" (3 GB at 10 levels) from a 1 KB document."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, levels)
    ]
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [' + "".join(entities).encode() + b"]>\n"
        b"<ajax-response><response type='object' id='x'><generic response='&lol"
        + str(levels - 1).encode()
        + b";' /></response></ajax-response>"
    )


def xml_handler(body: bytes) -> Handler:
    """An HTTP server that answers every request (the mxml Login first) with ``body`` as text/xml."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nServer: Asterisk/22.0.0\r\nContent-Type: text/xml\r\n"
            b'Set-Cookie: mansession_id="0badc0de"; Version=1; Max-Age=60\r\n'
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        await asyncio.sleep(30)

    return handler


@pytest.mark.parametrize(
    "body", [billion_laughs(), EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"]
)
async def test_ajam_mxml_client_refuses_entity_bombs(body: bytes) -> None:
    """A peer on the mxml encoder answers the Login with an entity bomb, an external entity or an
    external DTD: the client refuses it at once with a protocol error, expands nothing, fetches nothing."""
    async with hostile_server(xml_handler(body)) as port:
        client = AjamClient(parse_url(f"http://admin:s3cret@127.0.0.1:{port}/asterisk/mxml"))
        try:
            with Traced() as traced:
                with pytest.raises(RemoteProtocolError) as refused:
                    await asyncio.wait_for(client.connect(), TIME_BOUND)
        finally:
            await client.close()
    assert traced.elapsed < 2.0, f"{traced.elapsed:.2f} s"
    assert traced.peak < 4 * MIB, f"peak {traced.peak / MIB:.2f} MiB"  # expanded, the bomb is 3 GB
    message = str(refused.value)
    assert "s3cret" not in message and "passwd" not in message and "lol" not in message, message
