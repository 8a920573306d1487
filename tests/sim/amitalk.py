"""A tiny raw AMI client for the simulator's tests (bytes through ``ajam.protocol``; no ``ajam.client``)."""

from __future__ import annotations

import asyncio

from ajam.protocol.encode import encode_action
from ajam.protocol.message import Message
from ajam.protocol.stream import Banner, StreamParser


class AmiTalk:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = StreamParser(expect_banner=True, max_message_size=64 * 1024)
        self.pending: list[Message | Banner] = []
        self.eof = False

    @classmethod
    async def connect(cls, port: int) -> AmiTalk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, action: str, **headers: str) -> None:
        self.writer.write(encode_action(action, headers))

    async def next(self, timeout: float = 2.0) -> Message | Banner | None:
        """The next banner/message, or None at EOF. Raises TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.pending:
            if self.eof:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no message from the simulator")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except ConnectionError:
                data = b""
            if not data:
                self.eof = True
                self.parser.receive_eof()
            else:
                self.parser.receive_data(data)
            self.pending.extend(self.parser)
        return self.pending.pop(0)

    async def message(self, timeout: float = 2.0) -> Message:
        item = await self.next(timeout)
        assert isinstance(item, Message), f"expected a message, got {item!r}"
        return item

    async def until(self, predicate: str, timeout: float = 2.0) -> Message:
        """Skip messages until one whose ``Event`` or ``Response`` equals ``predicate``."""
        while True:
            message = await self.message(timeout)
            if predicate in (message.get("Event"), message.get("Response")):
                return message

    async def login(self, username: str = "admin", secret: str = "s3cret", **extra: str) -> Message:
        banner = await self.next()
        assert isinstance(banner, Banner)
        self.send("Login", Username=username, Secret=secret, **extra)
        return await self.message()

    async def closed(self, timeout: float = 2.0) -> bool:
        try:
            while await self.next(timeout) is not None:
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()
