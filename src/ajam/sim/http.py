"""The simulator's AJAM server: Asterisk's built-in HTTP server as the captures show it, byte for byte.

Written on plain asyncio streams because Asterisk bends HTTP in ways a strict library refuses to
reproduce: a 404 answer to HEAD still carries its body (http_20), and an HTTP/1.0 request is answered
with an ``HTTP/1.1`` status line and the connection kept open (http_18). Rules:

* Header order: ``Server``, ``Date``, [``Connection: close`` only if the client asked], ``Cache-Control``,
  [``WWW-authenticate``], ``Content-type`` (lower-case t), [``Set-Cookie``, ``Pragma: SuppressEvents``
  on cookie endpoints], ``Content-Length``.
* ``/asterisk/rawman|mxml|manager`` use the ``mansession_id`` cookie: a request without a valid one
  gets a new (unauthenticated) session and its cookie; sessions expire after ``httptimeout`` idle
  seconds (the cookie's Max-Age). ``arawman|amxml|amanager`` use HTTP Digest instead (no cookie).
* GET and POST (form body) run actions; HEAD runs them too but sends no body; other methods → 501;
  any other path (or every manager path with ``webenabled=False``) → the 404 page.
* Keep-alive: connections persist and are closed after ``keep_alive`` idle seconds.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ajam.protocol.auth import SessionCookie
from ajam.protocol.digest import challenge_header, digest_response, parse_digest_params
from ajam.protocol.encode import encode_message
from ajam.protocol.html import encode_manager_html
from ajam.protocol.http import Encoder
from ajam.protocol.message import Message
from ajam.protocol.mxml import encode_mxml
from ajam.sim.config import ManagerConfig
from ajam.sim.dispatch import Dispatcher
from ajam.sim.session import Headers, Session, SessionRegistry

REALM = "asterisk"
PREFIX = "/asterisk/"
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 501: "Not Implemented"}
_ERROR_TEXT = {
    400: "",
    401: "",
    404: "The requested URL was not found on this server.",
    501: "Attempt to use unimplemented / unsupported method",
}
_ENDPOINTS = {
    "rawman": (Encoder.RAWMAN, False),
    "mxml": (Encoder.MXML, False),
    "manager": (Encoder.MANAGER, False),
    "arawman": (Encoder.RAWMAN, True),
    "amxml": (Encoder.MXML, True),
    "amanager": (Encoder.MANAGER, True),
}


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    @property
    def wants_close(self) -> bool:
        return (self.header("Connection") or "").strip().lower() == "close"


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    extra: list[tuple[str, str]]
    cookie: str | None = None


def encode_body(encoder: Encoder, messages: list[Headers]) -> bytes:
    """The body for one encoder (the mxml/HTML encoders live in ``ajam.protocol``)."""
    if encoder is Encoder.RAWMAN:
        return b"".join(encode_message(message) for message in messages)
    if encoder is Encoder.MXML:
        return encode_mxml(messages)
    return encode_manager_html(messages)


def error_page(status: int, server: str) -> bytes:
    title = _REASONS[status]
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n'
        f"<html><head>\r\n<title>{status} {title}</title>\r\n</head><body>\r\n<h1>{title}</h1>\r\n"
        f"<p>{_ERROR_TEXT[status]}</p>\r\n<hr />\r\n<address>{server}</address>\r\n</body></html>\r\n"
    ).encode()


class HttpServer:
    """Serves the manager over HTTP for one simulated PBX."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        registry: SessionRegistry,
        config: ManagerConfig,
        host: str,
        port: int,
        webenabled: bool = True,
        httptimeout: int = 60,
        keep_alive: float = 15.0,
        version: str = "22.10.1",
    ) -> None:
        self.dispatcher = dispatcher
        self.registry = registry
        self.config = config
        self.host = host
        self.port = port
        self.webenabled = webenabled
        self.httptimeout = httptimeout
        self.keep_alive = keep_alive
        self.server_name = f"Asterisk/{version}"
        self._digest_sessions: dict[tuple[str, str], Session] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.clock: Callable[[], float] = time.monotonic

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is not None:
            self._server.close()
            self.drop_all()
            self.expire_all()  # also wakes WaitEvent long-polls
            await self._server.wait_closed()
            self._server = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)

    def drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def http_sessions(self) -> list[Session]:
        return [session for session in self.registry if session.is_http]

    def expire_all(self) -> None:
        """Forget every HTTP session now (clients must log in again)."""
        for session in self.http_sessions():
            self.registry.remove(session)
        self._digest_sessions.clear()

    def _expired(self, session: Session) -> bool:
        return not session.busy and self.clock() - session.last_used > self.httptimeout

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(self.httptimeout / 2, 0.05)))
            for session in self.http_sessions():
                if self._expired(session):
                    self.registry.remove(session)
            for key, session in list(self._digest_sessions.items()):
                if session.closed:
                    del self._digest_sessions[key]

    # --- connection -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        local = writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                data = await self._respond(request, (local[0], local[1]), (peer[0], peer[1]))
                writer.write(data)
                await writer.drain()
                if request.wants_close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.keep_alive)
        except (TimeoutError, asyncio.IncompleteReadError):
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise ValueError("bad request line")
        headers = []
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if sep:
                headers.append((key.strip(), value.strip()))
        request = Request(parts[0].upper(), parts[1], parts[2], headers, b"")
        length = int(request.header("Content-Length") or "0")
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        if length:
            request.body = await reader.readexactly(length)
        return request

    async def _respond(self, request: Request, local: tuple[str, int], remote: tuple[str, int]) -> bytes:
        head_only = request.method == "HEAD"
        if request.method not in ("GET", "POST", "HEAD"):
            reply = self._error(501)
        else:
            reply = await self._route(request, local, remote)
        return self._render(reply, close=request.wants_close, omit_body=head_only and reply.status == 200)

    def _error(self, status: int, extra: list[tuple[str, str]] | None = None) -> Reply:
        return Reply(status, "text/html", error_page(status, self.server_name), extra or [])

    def _render(self, reply: Reply, *, close: bool, omit_body: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {reply.status} {_REASONS[reply.status]}",
            f"Server: {self.server_name}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        if close:
            lines.append("Connection: close")
        lines.append("Cache-Control: no-cache, no-store")
        lines += [f"{key}: {value}" for key, value in reply.extra]
        lines.append(f"Content-type: {reply.content_type}")
        if reply.cookie is not None:
            cookie = SessionCookie(reply.cookie, self.httptimeout)
            lines += [f"Set-Cookie: {cookie.set_cookie_header()}", "Pragma: SuppressEvents"]
        lines.append(f"Content-Length: {len(reply.body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if omit_body else head + reply.body

    # --- manager endpoints ----------------------------------------------------------------------

    async def _route(self, request: Request, local: tuple[str, int], remote: tuple[str, int]) -> Reply:
        url = urlsplit(request.target)
        name = url.path[len(PREFIX) :] if url.path.startswith(PREFIX) else None
        endpoint = _ENDPOINTS.get(name or "") if self.webenabled else None
        if endpoint is None:
            return self._error(404)
        encoder, digest = endpoint
        params = parse_qsl(url.query, keep_blank_values=True)
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
            params += parse_qsl(request.body.decode("utf-8", "surrogateescape"), keep_blank_values=True)
        message = Message(params)
        if digest:
            return await self._digest_request(request, message, encoder, local, remote)
        session = self._cookie_session(request, local, remote)
        body: list[Headers] = []
        if await self.dispatcher.dispatch(session, message, body.append):
            self.registry.remove(session)
        session.touch()
        return Reply(200, encoder.content_type, encode_body(encoder, body), [], cookie=session.id)

    def _cookie_session(self, request: Request, local: tuple[str, int], remote: tuple[str, int]) -> Session:
        header = request.header("Cookie")
        cookie = SessionCookie.from_cookie_header(header) if header else None
        session = self.registry.get(cookie.session_id) if cookie else None
        if session is not None and session.is_http and not session.closed and not self._expired(session):
            return session
        if session is not None and session.is_http:
            self.registry.remove(session)
        session = Session(transport="http", local=local, remote=remote)
        self.registry.add(session)
        return session

    async def _digest_request(
        self,
        request: Request,
        message: Message,
        encoder: Encoder,
        local: tuple[str, int],
        remote: tuple[str, int],
    ) -> Reply:
        params = parse_digest_params(request.header("Authorization") or "")
        if params is None or not all(key in params for key in ("username", "nonce", "uri", "response")):
            return self._challenge()
        user = self.config.user(params["username"])
        if user is None or not user.allows(remote[0]):
            return self._challenge()
        expected = digest_response(
            username=params["username"],
            realm=params.get("realm", REALM),
            secret=user.secret,
            method=request.method,
            uri=params["uri"],
            nonce=params["nonce"],
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            qop=params.get("qop"),
        )
        if not secrets.compare_digest(expected, params["response"].lower()):
            return self._challenge()
        key = (user.name.lower(), params["nonce"])
        session = self._digest_sessions.get(key)
        if session is None or session.closed or self._expired(session):
            session = Session(transport="http", local=local, remote=remote)
            session.login(user)
            self.registry.add(session)
            self._digest_sessions[key] = session
        if params.get("qop"):
            try:
                count = int(params.get("nc", "0"), 16)
            except ValueError:
                return self._challenge()
            if count <= session.digest_nc:
                return self._challenge(stale=True)
            session.digest_nc = count
        body: list[Headers] = []
        if await self.dispatcher.dispatch(session, message, body.append):
            self.registry.remove(session)
        session.touch()
        return Reply(200, encoder.content_type, encode_body(encoder, body), [])

    def _challenge(self, *, stale: bool = False) -> Reply:
        nonce = f"{secrets.randbits(32):08x}"
        return self._error(401, [("WWW-authenticate", challenge_header(nonce, realm=REALM, stale=stale))])
