"""AMI over TCP (``ami://``, ``amis://``): asyncio streams around the sans-I/O :class:`StreamParser`.

* Responses are correlated by ``ActionID``; events may arrive before the response to a later action.
* A list action's reply collects the list events (same ActionID) up to ``EventList: Complete``.
* When the connection drops, every pending action fails at once with :class:`ConnectionLost`; then the
  client reconnects with exponential backoff, logs in again, restores the eventmask and filters, and
  emits ``AjamReconnected`` (``AjamDisconnected`` when the drop is seen).
* A keep-alive ``Ping`` every ``keepalive`` seconds detects a silent dead peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass, field

from ajam.client.base import (
    NOTICE_DISCONNECTED,
    NOTICE_RECONNECTED,
    RECONNECT_BACKOFF_MAX,
    ManagerClient,
    Reply,
    check_reply,
)
from ajam.client.url import ManagerUrl
from ajam.errors import (
    ActionTimeout,
    AjamError,
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
    MessageTooLarge,
    RemoteProtocolError,
    TransportMismatch,
)
from ajam.protocol.auth import challenge_login_headers, login_headers
from ajam.protocol.encode import encode_message, redact
from ajam.protocol.message import Event, Message, Response
from ajam.protocol.stream import Banner, StreamParser

log = logging.getLogger("ajam.client.tcp")


@dataclass
class _Pending:
    action: str
    future: asyncio.Future[Reply]
    response: Response | None = None
    events: list[Event] = field(default_factory=list)
    skipped: MessageTooLarge | None = None  # an oversized message dropped while waiting: maybe the answer


class AmiClient(ManagerClient):
    """Asyncio AMI client. Use :func:`ajam.client.connect` or ``async with AmiClient(url):``."""

    def __init__(
        self,
        url: ManagerUrl,
        *,
        auth: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        banner_timeout: float = 3.0,
        keepalive: float | None = 20.0,
        keepalive_timeout: float = 5.0,
        reconnect: bool = True,
        backoff_initial: float = 0.1,
        backoff_max: float = RECONNECT_BACKOFF_MAX,
        eventmask: str | None = None,
        event_queue_size: int = 10_000,
    ) -> None:
        super().__init__(url, event_queue_size=event_queue_size)
        self.auth = auth or url.auth
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.banner_timeout = banner_timeout
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self.reconnect = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._eventmask = eventmask
        self.banner: Banner | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = StreamParser()
        self._pending: dict[str, _Pending] = {}
        self._read_task: asyncio.Task[None] | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._logged_in = False
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._logged_in and self._writer is not None and not self._writer.is_closing()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._closing = False
        await self._open_and_login()
        self.stats.connects += 1
        if self.keepalive:
            self._keepalive_task = asyncio.create_task(self._keepalive_loop())

    async def close(self) -> None:
        self._closing = True
        for task in (self._keepalive_task, self._reconnect_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if self.connected:
            with contextlib.suppress(Exception):
                await self.send("Logoff", timeout=2, check=False)
        await self._drop_transport("client closed")
        self._close_streams()

    async def _open_and_login(self) -> None:
        url = self.url
        context = (
            self.ssl_context
            if self.ssl_context is not None
            else (ssl.create_default_context() if url.tls else None)
        )
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, url.port, ssl=context), self.connect_timeout
            )
        except ssl.SSLError as error:
            raise TransportMismatch(
                f"TLS handshake with {url.host_port} failed ({error.reason or error}): "
                "if this port speaks plain AMI use ami:// instead of amis://"
            ) from None
        except TimeoutError:
            raise ConnectionFailed(f"cannot connect to {url.redacted()}: timed out") from None
        except OSError as error:
            raise ConnectionFailed(f"cannot connect to {url.redacted()}: {error.strerror or error}") from None
        self._reader, self._writer = reader, writer
        self._parser = StreamParser()
        try:
            self.banner = await self._read_banner(reader, writer)
        except BaseException:
            writer.close()
            self._writer = None
            raise
        self._read_task = asyncio.create_task(self._read_loop(reader))
        try:
            await self._login()
        except BaseException:
            await self._drop_transport("login failed")
            raise
        self._logged_in = True
        log.info("logged in to %s as %s", url.redacted(), url.username)

    async def _read_banner(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Banner:
        deadline = asyncio.get_running_loop().time() + self.banner_timeout
        probed = False
        while True:
            if isinstance(item := self._banner_or_none(), Banner):
                return item
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                data = await asyncio.wait_for(reader.read(4096), max(remaining, 0.01))
            except TimeoutError:
                if probed and self._parser.buffered:
                    self._parser.receive_eof()  # judge the bytes we have (e.g. a TLS alert, no newline)
                    continue
                if probed:
                    raise TransportMismatch(
                        f"{self.url.host_port} sent no AMI banner within {self.banner_timeout:g} s: is this the "
                        "manager port (5038)? An HTTP or TLS port waits silently for the client to speak"
                    ) from None
                # A silent peer may be an HTTP or TLS server: a blank line makes either answer in its
                # own protocol, which the parser then names in plain words.
                probed = True
                deadline += 1.0
                writer.write(b"\r\n\r\n")
                continue
            except OSError as error:
                raise ConnectionFailed(f"{self.url.host_port}: {error}") from None
            if not data:
                self._parser.receive_eof()
                if isinstance(item := self._banner_or_none(), Banner):
                    return item
                raise ConnectionFailed(f"{self.url.host_port} closed the connection before the AMI banner")
            self._parser.receive_data(data)

    def _banner_or_none(self) -> Message | Banner | None:
        """The parser's next item while the banner is awaited; what is not AMI is the wrong transport."""
        try:
            return self._parser.next_message()
        except RemoteProtocolError as error:
            raise TransportMismatch(f"{self.url.host_port}: {error}") from None

    async def _login(self) -> None:
        url = self.url
        if url.username is None or url.secret is None:
            raise AuthenticationFailed(
                f"no credentials for {url.redacted()}: put them in the URL, in AJAM_USERNAME/AJAM_SECRET "
                "or in the credentials file"
            )
        events = self._eventmask
        if self.auth == "md5":
            challenge = await self._raw_send("Challenge", [("AuthType", "MD5")], self.connect_timeout)
            value = challenge.response.get("Challenge")
            if not challenge.ok or not value:
                raise AuthenticationFailed(
                    f"the PBX refused the MD5 challenge: {challenge.response.message or 'no Challenge header'}"
                )
            headers = challenge_login_headers(url.username, value, url.secret, events=events)
        else:
            headers = login_headers(url.username, url.secret, events=events)
        reply = await self._raw_send("Login", headers, self.connect_timeout + 2)
        if not reply.ok:
            raise AuthenticationFailed(
                f"login refused for user {url.username!r} at {url.redacted()}: {reply.response.message}"
            )
        for rule in self._server_filters:
            await self._raw_send("Filter", rule.headers(), self.connect_timeout)

    async def _raw_send(self, action: str, headers: list[tuple[str, str]], timeout: float) -> Reply:
        from ajam.client.base import new_action_id

        pairs = [("Action", action), *headers, ("ActionID", new_action_id())]
        return await self._exchange(action, pairs, timeout, require_login=False)

    # -- actions ------------------------------------------------------------------------------------
    async def _exchange(
        self, action: str, pairs: list[tuple[str, str]], timeout: float, *, require_login: bool = True
    ) -> Reply:
        writer = self._writer
        if writer is None or writer.is_closing() or (require_login and not self._logged_in):
            raise ConnectionLost(f"not connected to {self.url.redacted()}")
        action_id = next(value for key, value in pairs if key.lower() == "actionid")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        pending = _Pending(action, future)
        self._pending[action_id] = pending
        if log.isEnabledFor(logging.DEBUG):
            log.debug("send %s", redact(pairs))
        try:
            writer.write(encode_message(pairs))
            self.stats.actions_sent += 1
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            if pending.skipped is not None:
                raise RemoteProtocolError(
                    f"{action}: no response from {self.url.redacted()} within {timeout:g} s, and meanwhile "
                    f"the PBX sent a message that was dropped ({pending.skipped}): probably this response"
                ) from None
            raise ActionTimeout(
                f"{action}: no response from {self.url.redacted()} within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(action_id, None)
            if not future.done():
                future.cancel()

    # -- reading ------------------------------------------------------------------------------------
    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        reason = "connection closed by the PBX"
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    self._parser.receive_eof()
                    self._drain_parser()
                    break
                self._parser.receive_data(data)
                self._drain_parser()
        except (OSError, asyncio.IncompleteReadError) as error:
            reason = f"connection error: {error}"
        except asyncio.CancelledError:
            return
        self._connection_lost(reason)

    def _drain_parser(self) -> None:
        while True:
            try:
                item = self._parser.next_message()
            except MessageTooLarge as error:
                log.warning("%s: %s", self.url.redacted(), error)
                for pending in self._pending.values():
                    pending.skipped = error
                continue
            if item is None:
                return
            if isinstance(item, Message):
                self._dispatch(item)

    def _dispatch(self, message: Message) -> None:
        action_id = message.action_id
        pending = self._pending.get(action_id) if action_id is not None else None
        if isinstance(message, Response):
            if pending is None or pending.response is not None:
                log.debug("response without a waiting action: %r", message)
                return
            self.stats.responses += 1
            pending.response = message
            if not message.starts_list or message.status.lower() == "error":
                self._complete(action_id, pending)
            return
        if isinstance(message, Event):
            if pending is not None and pending.response is not None and pending.response.starts_list:
                pending.events.append(message)
                if message.ends_list:
                    self._complete(action_id, pending)
                return
            self._deliver(message)

    def _complete(self, action_id: str | None, pending: _Pending) -> None:
        if action_id is not None:
            self._pending.pop(action_id, None)
        if not pending.future.done() and pending.response is not None:
            pending.future.set_result(Reply(pending.response, pending.events))

    # -- connection loss and reconnect --------------------------------------------------------------
    def _fail_pending(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for item in pending.values():
            if not item.future.done():
                item.future.set_exception(ConnectionLost(f"{item.action}: {reason}"))

    def _connection_lost(self, reason: str) -> None:
        was_logged_in = self._logged_in
        self._logged_in = False
        self._fail_pending(reason)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._closing or not was_logged_in:
            return
        self.stats.disconnects += 1
        log.warning("%s: %s", self.url.redacted(), reason)
        self._notify(NOTICE_DISCONNECTED, Reason=reason)
        if self.reconnect and (self._reconnect_task is None or self._reconnect_task.done()):
            self._reconnect_task = asyncio.create_task(self._reconnect_loop())

    async def _drop_transport(self, reason: str) -> None:
        self._logged_in = False
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._fail_pending(reason)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _reconnect_loop(self) -> None:
        delay = self.backoff_initial
        attempt = 0
        while not self._closing:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await self._open_and_login()
            except AuthenticationFailed as error:
                log.error("%s: reconnect stopped: %s", self.url.redacted(), error)
                self._notify(NOTICE_DISCONNECTED, Reason=f"re-login refused: {error}")
                return
            except (ConnectionFailed, ActionTimeout, OSError) as error:
                log.info("%s: reconnect attempt %d failed: %s", self.url.redacted(), attempt, error)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.stats.reconnects += 1
            self._notify(NOTICE_RECONNECTED, Attempts=attempt)
            return

    async def _keepalive_loop(self) -> None:
        assert self.keepalive is not None
        while not self._closing:
            await asyncio.sleep(self.keepalive)
            if not self.connected:
                continue
            try:
                reply = await self.send("Ping", timeout=self.keepalive_timeout, check=False)
                check_reply("Ping", reply)
            except ActionTimeout:
                log.warning("%s: keep-alive Ping unanswered; dropping the connection", self.url.redacted())
                if self._writer is not None:
                    self._writer.transport.abort()
            except AjamError as error:
                log.debug("keep-alive Ping failed: %s", error)
