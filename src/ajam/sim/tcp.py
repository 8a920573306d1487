"""The simulator's AMI TCP server: banner, one session per connection, actions answered in order.

Actions of one connection are handled one after the other (a synchronous Originate holds the
connection's later actions, as in Asterisk), while events are written as they happen: everything goes
through one outbox per connection, so a response is never split by an event. A connection that has
not logged in after ``authtimeout`` seconds is closed, like Asterisk does (ami_13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ajam.errors import MessageTooLarge
from ajam.protocol.encode import encode_message
from ajam.protocol.message import Message
from ajam.protocol.stream import Banner, StreamParser
from ajam.sim.dispatch import Dispatcher
from ajam.sim.session import Headers, Session, SessionRegistry

BANNER = Banner("11.0.0")
READ_SIZE = 65536
MAX_PENDING_WRITES = 100_000  # a client that stops reading is dropped, as Asterisk does after writetimeout
log = logging.getLogger(__name__)


class AmiConnection:
    """One accepted AMI socket."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        dispatcher: Dispatcher,
        registry: SessionRegistry,
        authtimeout: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.dispatcher = dispatcher
        self.registry = registry
        self.authtimeout = authtimeout
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        self.session = Session(
            transport="tcp", local=(local[0], local[1]), remote=(peer[0], peer[1]), deliver=self._deliver
        )
        sock = writer.get_extra_info("socket")
        self.session.fd = sock.fileno() if sock is not None else -1
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closing = False

    def _deliver(self, event: Headers) -> None:
        self.send(event)

    def send(self, headers: Headers) -> None:
        if self._closing:
            return
        if self._outbox.qsize() >= MAX_PENDING_WRITES:
            log.warning(
                "dropping AMI client %s: it stopped reading (%d messages pending)",
                self.session.remote,
                MAX_PENDING_WRITES,
            )
            self.abort()
            return
        self._outbox.put_nowait(encode_message(headers))

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (fault injection: malformed or oversized frames)."""
        if not self._closing:
            self._outbox.put_nowait(data)

    def close_soon(self) -> None:
        """Flush what is queued, then close the socket."""
        if not self._closing:
            self._closing = True
            self.session.close()
            self._outbox.put_nowait(None)

    def abort(self) -> None:
        """Drop the connection at once (fault injection)."""
        self.close_soon()
        self.writer.transport.abort()

    async def run(self) -> None:
        self.registry.add(self.session)
        writer_task = asyncio.create_task(self._write_loop())
        guard = asyncio.create_task(self._auth_guard())
        try:
            self.send_raw(BANNER.encode())
            await self._read_loop()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            guard.cancel()
            self.close_soon()
            self.registry.remove(self.session)
            await asyncio.wait({writer_task}, timeout=5)
            writer_task.cancel()
            self.writer.close()

    async def _auth_guard(self) -> None:
        await asyncio.sleep(self.authtimeout)
        if not self.session.authenticated:
            self.close_soon()
            self.reader.feed_eof()

    async def _read_loop(self) -> None:
        parser = StreamParser(expect_banner=False)
        while not self._closing:
            data = await self.reader.read(READ_SIZE)
            if not data:
                return
            parser.receive_data(data)
            while not self._closing:
                try:
                    item = parser.next_message()
                except MessageTooLarge:
                    continue
                if item is None:
                    break
                if isinstance(item, Message) and await self.dispatcher.dispatch(
                    self.session, item, self.send
                ):
                    self.close_soon()

    async def _write_loop(self) -> None:
        while True:
            data = await self._outbox.get()
            if data is None:
                break
            self.writer.write(data)
            try:
                await self.writer.drain()
            except ConnectionError:
                break
        with contextlib.suppress(Exception):
            if self.writer.can_write_eof():
                self.writer.write_eof()
        self.writer.close()
        self.reader.feed_eof()


class AmiServer:
    """Listens for AMI connections; tracks them so faults can drop or message every one."""

    def __init__(
        self, *, dispatcher: Dispatcher, registry: SessionRegistry, host: str, port: int, authtimeout: float
    ) -> None:
        self.dispatcher = dispatcher
        self.registry = registry
        self.host = host
        self.port = port
        self.authtimeout = authtimeout
        self.connections: set[AmiConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = AmiConnection(
            reader, writer, dispatcher=self.dispatcher, registry=self.registry, authtimeout=self.authtimeout
        )
        self.connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    def drop_all(self) -> None:
        for connection in list(self.connections):
            connection.abort()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_all()
            await self._server.wait_closed()
            self._server = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
