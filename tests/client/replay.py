"""A mock PBX that replays a capture: each client message is answered with the next recorded S>C chunks.

AMI: every connection replays the capture from its start, each message answered by the first remaining
step that recorded the same action. HTTP: one script shared by all connections.

Recorded ActionIDs are rewritten to the ones the client sent, so a client that generates its own ids
is answered exactly as Asterisk answered the capture script. Timing is ignored (no recorded delays).
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from tests.support.transcripts import Transcript, load, require_shared

_ACTION_ID = re.compile(rb"(?im)^ActionID: ?(.*?)\r?$")
_ACTION = re.compile(rb"(?im)^Action: ?(.*?)\r?$")
_GOODBYE_HTTP = (
    b"HTTP/1.1 200 OK\r\nContent-type: text/plain\r\nContent-Length: 54\r\n\r\n"
    b"Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n"
)


@dataclass
class Step:
    client: bytes
    replies: list[bytes] = field(default_factory=list)
    close: bool = False


def steps_of(transcript: Transcript) -> tuple[list[bytes], list[Step]]:
    """The greeting (S>C before the first C>S) and one step per client chunk."""
    greeting: list[bytes] = []
    steps: list[Step] = []
    for chunk in transcript.chunks:
        if chunk.kind == "C>S":
            steps.append(Step(chunk.data))
        elif chunk.kind == "S>C":
            (steps[-1].replies if steps else greeting).append(chunk.data)
        elif chunk.kind == "EOF" and steps:
            steps[-1].close = True
    return greeting, steps


def capture(name: str) -> Transcript:
    shared = require_shared()
    folder = "transcripts-sip" if name.startswith("sip_") else "transcripts"
    return load(Path(shared / folder / f"{name}.txt"))


def _rewrite(data: bytes, recorded: bytes | None, actual: bytes | None) -> bytes:
    if recorded is None or actual is None or recorded == actual:
        return data
    return data.replace(b"ActionID: " + recorded + b"\r\n", b"ActionID: " + actual + b"\r\n")


def _action_name(message: bytes) -> bytes:
    match = _ACTION.search(message)
    return match.group(1).strip().lower() if match else b""


def _matching_step(steps: list[Step], message: bytes) -> int:
    """The first remaining step that recorded the same action (the first step when none did)."""
    name = _action_name(message)
    return next((index for index, step in enumerate(steps) if _action_name(step.client) == name), 0)


def _action_id(message: bytes) -> bytes | None:
    match = _ACTION_ID.search(message)
    return match.group(1) if match else None


class ReplayServer:
    """AMI (``http=False``) or AJAM (``http=True``) replay of one capture on 127.0.0.1:<free port>."""

    def __init__(self, name: str, *, http: bool = False) -> None:
        self.greeting, self.steps = steps_of(capture(name))
        self.http = http
        self.received: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, user: str = "admin", secret: str = "s3cret", path: str = "/asterisk/rawman") -> str:
        if self.http:
            return f"http://{user}:{secret}@127.0.0.1:{self.port}{path}"
        return f"ami://{user}:{secret}@127.0.0.1:{self.port}"

    def drop_all(self) -> None:
        """Abort every open connection (a crashed PBX)."""
        for writer in self._writers:
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            if self.http:
                await self._serve_http(reader, writer)
            else:
                await self._serve_ami(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _serve_ami(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        steps = list(self.steps)  # every AMI connection replays the capture from its start
        for data in self.greeting:
            writer.write(data)
        while True:
            message = await reader.readuntil(b"\r\n\r\n")
            self.received.append(message)
            if not steps:
                continue
            step = steps.pop(_matching_step(steps, message))
            recorded, actual = _action_id(step.client), _action_id(message)
            for data in step.replies:
                writer.write(_rewrite(data, recorded, actual))
            await writer.drain()
            if step.close:
                return

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            body = await reader.readexactly(int(length.group(1))) if length else b""
            self.received.append(head + body)
            if not self.steps:
                writer.write(_GOODBYE_HTTP)
            else:
                for data in self.steps.pop(0).replies:
                    writer.write(data)
            await writer.drain()


class ThreadedReplay:
    """Runs a ReplayServer on its own loop thread so blocking code can talk to it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ReplayServer(name)
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.aclose(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
