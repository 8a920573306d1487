"""AJAM: the manager over Asterisk's HTTP server (``http://``/``https://`` URLs).

* Actions are ``GET /prefix/<encoder>?action=...`` (``method="POST"`` sends a form instead) over one
  kept-alive connection. ``rawman``/``mxml``/``manager`` log in with ``Login`` and carry the
  ``mansession_id`` cookie, refreshed from every response; ``arawman``/``amxml`` use HTTP Digest.
* Events come from a background ``WaitEvent`` long-poll loop on its own HTTP connection (so actions are
  never queued behind it), started when the first consumer registers (:meth:`events` / :meth:`on`).
* A session that expired on the server (a request answered with ``Permission denied`` and a *new*
  cookie) is renewed by logging in again transparently; the action is retried once and an ``AjamGap``
  notice tells event consumers that events may have been lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import httpx

from ajam.client.base import (
    NOTICE_DISCONNECTED,
    NOTICE_GAP,
    NOTICE_RECONNECTED,
    RECONNECT_BACKOFF_MAX,
    ManagerClient,
    Reply,
)
from ajam.client.url import ManagerUrl
from ajam.errors import (
    ActionTimeout,
    AuthenticationFailed,
    ConnectionFailed,
    ConnectionLost,
    MessageTooLarge,
    NotPublished,
    RemoteProtocolError,
    TransportMismatch,
)
from ajam.protocol.auth import SessionCookie, login_headers
from ajam.protocol.encode import redact
from ajam.protocol.http import diagnose_status, parse_body
from ajam.protocol.message import Event, Response
from ajam.protocol.stream import DEFAULT_MAX_MESSAGE_SIZE

log = logging.getLogger("ajam.client.http")

WAITEVENT_COMPLETE = "waiteventcomplete"
# A whole list (CoreShowChannels of a large PBX) arrives in one body: room for two maximal messages.
DEFAULT_MAX_BODY_SIZE = 2 * DEFAULT_MAX_MESSAGE_SIZE


class AjamClient(ManagerClient):
    """Asyncio AJAM client. Use :func:`ajam.client.connect` or ``async with AjamClient(url):``."""

    def __init__(
        self,
        url: ManagerUrl,
        *,
        method: str = "GET",
        verify: ssl.SSLContext | bool = True,
        keep_alive: bool = True,
        connect_timeout: float = 5.0,
        wait_timeout: int = 20,
        backoff_initial: float = 0.2,
        backoff_max: float = RECONNECT_BACKOFF_MAX,
        eventmask: str | None = None,
        event_queue_size: int = 10_000,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        if url.endpoint is None:
            raise ValueError(f"{url.redacted()} is not an HTTP manager URL")
        super().__init__(url, event_queue_size=event_queue_size)
        self.endpoint = url.endpoint
        self.method = method.upper()
        self.verify = verify
        self.keep_alive = keep_alive
        self.connect_timeout = connect_timeout
        self.wait_timeout = wait_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._eventmask = eventmask
        self.max_body_size = max_body_size
        self.cookie: SessionCookie | None = None
        self._login_session: str | None = None
        self._local_addresses: set[object] = set()
        self._http: httpx.AsyncClient | None = None
        self._wait_http: httpx.AsyncClient | None = None
        self._wait_task: asyncio.Task[None] | None = None
        self._login_lock = asyncio.Lock()
        self._logged_in = False
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._logged_in and self._http is not None

    # -- lifecycle ----------------------------------------------------------------------------------
    def _new_http(self) -> httpx.AsyncClient:
        url = self.url
        auth = None
        if self.endpoint.digest:
            if url.username is None or url.secret is None:
                raise AuthenticationFailed(f"no credentials for {url.redacted()} (HTTP Digest)")
            auth = httpx.DigestAuth(url.username, url.secret)
        return httpx.AsyncClient(
            base_url=f"{url.scheme}://{url.host_port}",
            auth=auth,
            verify=self.verify,
            timeout=httpx.Timeout(30.0, connect=self.connect_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4 if self.keep_alive else 0),
            headers={"User-Agent": "ajam"},
        )

    async def connect(self) -> None:
        self._closing = False
        self._http = self._new_http()
        try:
            await self._login()
        except BaseException:
            await self._http.aclose()
            self._http = None
            raise
        self.stats.connects += 1
        if self._eventmask is not None:
            await self.send("Events", {"EventMask": self._eventmask})
        if self.has_event_consumers:
            self._want_events()

    async def close(self) -> None:
        self._closing = True
        task, self._wait_task = self._wait_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._logged_in and not self.endpoint.digest:
            with contextlib.suppress(Exception):
                await self.send("Logoff", timeout=2, check=False)
        self._logged_in = False
        for client in (self._http, self._wait_http):
            if client is not None:
                await client.aclose()
        self._http = self._wait_http = None
        self._close_streams()

    async def _login(self) -> None:
        url = self.url
        if self.endpoint.digest:
            reply = await self._request(self._require_http(), [("action", "Ping")], 10.0, "Ping")
            if not reply.ok:
                raise AuthenticationFailed(f"{url.redacted()}: {reply.response.message}")
            self._logged_in = True
            return
        if url.username is None or url.secret is None:
            raise AuthenticationFailed(
                f"no credentials for {url.redacted()}: put them in the URL, in AJAM_USERNAME/AJAM_SECRET "
                "or in the credentials file"
            )
        self.cookie = None
        pairs = [("action", "Login"), *login_headers(url.username, url.secret)]
        reply = await self._request(self._require_http(), pairs, self.connect_timeout + 5, "Login")
        if not reply.ok:
            self.cookie = None
            raise AuthenticationFailed(
                f"login refused for user {url.username!r} at {url.redacted()}: {reply.response.message}"
            )
        self._logged_in = True
        self._login_session = self.cookie.session_id if self.cookie else None
        log.info("logged in to %s as %s", url.redacted(), url.username)

    def _require_http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise ConnectionLost(f"not connected to {self.url.redacted()}")
        return self._http

    async def _renew_session(self, seen_session: str | None) -> None:
        """Log in again after the server dropped our session (once, however many callers notice)."""
        async with self._login_lock:
            if self._login_session != seen_session and self._logged_in:
                return  # another caller already renewed it
            self._logged_in = False
            await self._login()
            self.stats.session_renewals += 1
            await self._restore_event_selection()
            self._notify(NOTICE_GAP, Reason="session expired")

    # -- actions ------------------------------------------------------------------------------------
    async def _exchange(self, action: str, pairs: list[tuple[str, str]], timeout: float) -> Reply:
        http = self._require_http()
        query = [("action", action), *pairs[1:]]
        sent_session = self.cookie.session_id if self.cookie else None
        reply = await self._request(http, query, timeout, action)
        if self._session_was_lost(reply, sent_session):
            await self._renew_session(sent_session)
            reply = await self._request(self._require_http(), query, timeout, action)
        return reply

    def _session_was_lost(self, reply: Reply, sent_session: str | None) -> bool:
        if self.endpoint.digest or sent_session is None:
            return False
        response = reply.response
        return (
            response.status.lower() == "error"
            and response.message.lower() == "permission denied"
            and self.cookie is not None
            and self.cookie.session_id != sent_session
        )

    async def _request(
        self, http: httpx.AsyncClient, query: list[tuple[str, str]], timeout: float, action: str
    ) -> Reply:
        """One manager request. Login always goes as a POST form so the secret never sits in a URL
        (server access logs, proxies, httpx's own request log)."""
        headers = {}
        if self.cookie is not None:
            headers["Cookie"] = self.cookie.request_header()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s", self.method, self.url.redacted(), redact(query))
        try:
            if self.method == "POST" or action.lower() == "login":
                request = http.build_request(
                    "POST", self.endpoint.path, data=dict(_merge(query)), headers=headers, timeout=timeout
                )
            else:
                params: list[tuple[str, str | int | float | bool | None]] = list(query)
                request = http.build_request(
                    "GET", self.endpoint.path, params=params, headers=headers, timeout=timeout
                )
            response = await http.send(request, stream=True)
            try:
                body = await self._read_body(response, action)
            finally:
                await response.aclose()
        except httpx.TimeoutException as error:
            if isinstance(error, httpx.ConnectTimeout):
                hint = (
                    " (if the TLS handshake hangs, this port may speak plain HTTP: try http://)"
                    if self.url.tls
                    else ""
                )
                raise ConnectionFailed(f"cannot connect to {self.url.redacted()}: timed out{hint}") from None
            raise ActionTimeout(
                f"{action}: no response from {self.url.redacted()} within {timeout:g} s"
            ) from None
        except httpx.HTTPError as error:
            raise self._transport_error(error) from None
        finally:
            http.cookies.clear()
        self.stats.actions_sent += 1
        if http is self._http:
            self._count_connection(response)
        self._take_cookie(response)
        return self._reply_from(response, body, action)

    async def _read_body(self, response: httpx.Response, action: str) -> bytes:
        """The body, refused as soon as it passes ``max_body_size`` (never buffered whole first)."""
        limit = self.max_body_size
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise MessageTooLarge(
                f"{action}: the server announced a body of {declared} bytes (limit {limit})"
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise MessageTooLarge(f"{action}: the response body exceeds the limit of {limit} bytes")
        return bytes(body)

    def _count_connection(self, response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is None:
            return
        try:
            address = stream.get_extra_info("client_addr")
        except OSError:
            address = object()  # already closed: not kept alive, so it was a connection of its own
        if address is not None and address not in self._local_addresses:
            self._local_addresses.add(address)
            self.stats.http_connections = len(self._local_addresses)

    def _take_cookie(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            cookie = SessionCookie.from_set_cookie(header)
            if cookie is not None:
                self.cookie = cookie

    def _reply_from(self, response: httpx.Response, body: bytes, action: str) -> Reply:
        status = response.status_code
        problem = diagnose_status(status, self.endpoint.path)
        if problem is not None:
            if status == 404:
                raise NotPublished(f"{self.url.redacted()}: {problem}")
            if status == 401:
                raise AuthenticationFailed(f"{self.url.redacted()}: {problem}")
            if status == 400:
                raise TransportMismatch(f"{self.url.redacted()}: {problem}")
            raise ConnectionFailed(f"{self.url.redacted()}: {problem}")
        try:
            messages = parse_body(self.endpoint.encoder, body)
        except RemoteProtocolError as error:
            raise RemoteProtocolError(
                f"{action}: unreadable {self.endpoint.encoder.value} body: {error}"
            ) from None
        self.stats.responses += 1
        first = next((m for m in messages if isinstance(m, Response)), None)
        if first is None:
            raise RemoteProtocolError(f"{action}: the {self.endpoint.encoder.value} body holds no response")
        events = [m for m in messages if isinstance(m, Event)]
        return Reply(first, events)

    def _transport_error(self, error: httpx.HTTPError) -> Exception:
        text = str(error)
        where = self.url.redacted()
        lowered = text.lower()
        if self.url.scheme == "https" and (
            "ssl" in lowered or "wrong version" in lowered or "tls" in lowered
        ):
            return TransportMismatch(
                f"{where}: TLS handshake failed ({text}): this port speaks plain HTTP, use http://"
            )
        if self._logged_in and isinstance(error, httpx.TransportError):
            return ConnectionLost(f"{where}: the connection dropped ({text or type(error).__name__})")
        if isinstance(error, httpx.RemoteProtocolError) or (
            self.url.scheme == "http" and isinstance(error, (httpx.ReadError, httpx.ReadTimeout))
        ):
            if "asterisk call manager" in lowered:
                return TransportMismatch(f"{where}: this is the AMI TCP port, use ami://{self.url.host_port}")
            return TransportMismatch(
                f"{where}: the server did not answer with HTTP ({text or type(error).__name__}): "
                "is it an HTTPS port (use https://) or the AMI TCP port (use ami://)?"
            )
        if isinstance(error, httpx.ConnectError):
            return ConnectionFailed(f"cannot connect to {where}: {text}")
        return ConnectionLost(f"{where}: {text or type(error).__name__}")

    # -- events: the WaitEvent loop -----------------------------------------------------------------
    def _want_events(self) -> None:
        if (
            self._closing
            or not self._logged_in
            or (self._wait_task is not None and not self._wait_task.done())
        ):
            return
        with contextlib.suppress(RuntimeError):
            self._wait_task = asyncio.get_running_loop().create_task(self._wait_loop())

    async def _wait_loop(self) -> None:
        self._wait_http = self._new_http()
        delay = self.backoff_initial
        broken = False
        while not self._closing:
            sent_session = self.cookie.session_id if self.cookie else None
            # after a failure a Ping tells at once when the PBX is back; a WaitEvent would hang until
            # the next event or its timeout before the reconnection could be announced
            probing = broken
            if probing:
                query, timeout = [("action", "Ping")], self.connect_timeout + 5.0
            else:
                query = [("action", "WaitEvent"), ("Timeout", str(self.wait_timeout))]
                timeout = self.wait_timeout + 15.0
            try:
                reply = await self._request(self._wait_http, query, timeout, query[0][1])
                if self._session_was_lost(reply, sent_session):
                    await self._renew_session(sent_session)
                    if not probing:
                        continue
            except AuthenticationFailed as error:
                self._notify(NOTICE_DISCONNECTED, Reason=f"re-login refused: {error}")
                return
            except (ConnectionFailed, ActionTimeout, RemoteProtocolError) as error:
                if not broken:
                    broken = True
                    self.stats.disconnects += 1
                    self._notify(NOTICE_DISCONNECTED, Reason=str(error))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            if broken:
                broken = False
                delay = self.backoff_initial
                self.stats.reconnects += 1
                self._notify(NOTICE_RECONNECTED, Attempts=1)
            if probing:
                continue
            for event in reply.events:
                if event.name.lower() != WAITEVENT_COMPLETE:
                    self._deliver(event)


def _merge(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for key, value in pairs:
        merged.setdefault(key, []).append(value)
    return merged
