"""The simulated manager's action dispatcher: what Asterisk 22 answers to each action, byte for byte.

Order of checks (``process_message`` in Asterisk's ``manager.c``, confirmed by ami_11/ami_60/http_08):
no ``Action`` header → ``Missing action in request``; not logged in and not Login/Challenge/Logoff →
``Permission denied``; unknown action → ``Invalid/unknown command: X. Use Action: ListCommands to show
available commands.`` (plus a ``RequestBadFormat`` security event); no write class for it →
``Permission denied``. ``ActionID`` is echoed as the second header of the response and of list events.

The session-level actions are answered here; every name in ``Pbx.CALL_ACTIONS`` is delegated to the
telephony model (``ajam.sim.pbx``). Responses go to ``out`` (the TCP stream or the HTTP body), in order.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from ajam.protocol.auth import challenge_key
from ajam.protocol.message import Message
from ajam.protocol.permissions import may_write, required_classes
from ajam.sim import commands
from ajam.sim.config import ManagerConfig
from ajam.sim.session import FilterError, Headers, Session, SessionRegistry, parse_filter

AMI_VERSION = "11.0.0"
Out = Callable[[Headers], None]


class ActionReplyLike(Protocol):
    @property
    def response(self) -> Headers: ...
    @property
    def list_events(self) -> list[Headers]: ...
    @property
    def ready(self) -> asyncio.Future[Any] | None: ...


class PbxBackend(Protocol):
    """What the dispatcher needs from :class:`ajam.sim.pbx.Pbx` (see /tmp/sim_iface.md)."""

    CALL_ACTIONS: frozenset[str]

    def handle(self, action: str, headers: Message, action_id: str | None) -> Awaitable[ActionReplyLike]: ...
    def uptime(self) -> int: ...
    def last_reload(self) -> int: ...


def with_action_id(headers: Headers, action_id: str | None) -> Headers:
    """Place ``ActionID`` as Asterisk does: fill a ``("ActionID", "")`` placeholder, else 2nd header."""
    placeholder = next((i for i, (k, v) in enumerate(headers) if k == "ActionID" and v == ""), None)
    if placeholder is not None:
        result = list(headers)
        if action_id is None:
            del result[placeholder]
        else:
            result[placeholder] = ("ActionID", action_id)
        return result
    if action_id is None:
        return list(headers)
    return [*headers[:1], ("ActionID", action_id), *headers[1:]]


def event_tv(at: float | None = None) -> str:
    """``2026-11-27T00:22:45.942+0000`` (Asterisk's EventTV/SessionTV)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def address_text(address: tuple[str, int]) -> str:
    family = "IPV6" if ":" in address[0] else "IPV4"
    return f"{family}/TCP/{address[0]}/{address[1]}"


class CallCounter:
    """Current and processed call counts for CoreStatus, counted from the PBX event stream."""

    def __init__(self) -> None:
        self.processed = 0
        self.current = 0

    def observe(self, event: Headers) -> None:
        name = event[0][1] if event and event[0][0] == "Event" else ""
        if name == "Newchannel":
            self.processed += 1
            self.current += 1
        elif name == "Hangup":
            self.current = max(0, self.current - 1)


class Dispatcher:
    """Answers actions for every session of one simulated PBX."""

    def __init__(
        self,
        *,
        config: ManagerConfig,
        pbx: PbxBackend,
        registry: SessionRegistry,
        version: str = "22.10.1",
        login_failure_delay: float = 1.0,
        httptimeout: int | None = None,
    ) -> None:
        self.config = config
        self.httptimeout = config.httptimeout if httptimeout is None else httptimeout
        self.pbx = pbx
        self.registry = registry
        self.version = version
        self.login_failure_delay = login_failure_delay
        self.action_delay = 0.0
        self.calls = CallCounter()
        self.started = time.time()
        self._handlers: dict[str, Callable[[Session, Message, str | None, Out], Awaitable[bool]]] = {
            "login": self._login,
            "challenge": self._challenge,
            "logoff": self._logoff,
            "ping": self._ping,
            "events": self._events,
            "filter": self._filter,
            "command": self._command,
            "coresettings": self._core_settings,
            "corestatus": self._core_status,
            "waitevent": self._wait_event,
            "listcommands": self._list_commands,
            "userevent": self._user_event,
        }

    def known(self, action: str) -> bool:
        lowered = action.lower()
        return lowered in self._handlers or lowered in self.pbx.CALL_ACTIONS

    async def dispatch(self, session: Session, message: Message, out: Out) -> bool:
        """Answer one action; True when the session must end (Logoff, failed login)."""
        session.busy += 1
        try:
            return await self._dispatch(session, message, out)
        finally:
            session.busy -= 1
            session.touch()

    async def _dispatch(self, session: Session, message: Message, out: Out) -> bool:
        session.touch()
        action = message.get("Action")
        action_id = message.get("ActionID")
        if self.action_delay > 0:
            await asyncio.sleep(self.action_delay)
        if not action:
            out(with_action_id([("Response", "Error"), ("Message", "Missing action in request")], action_id))
            return False
        name = action.lower()
        if not session.authenticated and name not in ("login", "challenge", "logoff"):
            out(_error("Permission denied", action_id))
            return False
        if not self.known(name):
            out(
                _error(
                    f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.",
                    action_id,
                )
            )
            self.registry.broadcast(
                self._security_event(session, "RequestBadFormat", "Error", f"Action: {action}")
            )
            return False
        user = session.user
        if session.authenticated and user is not None and not may_write(name, user.write):
            out(_error("Permission denied", action_id))
            return False
        handler = self._handlers.get(name)
        if handler is not None:
            return await handler(session, message, action_id, out)
        reply: ActionReplyLike = await self.pbx.handle(name, message, action_id)
        while reply.ready is not None:
            reply = await reply.ready
        out(with_action_id(reply.response, action_id))
        for event in reply.list_events:
            out(with_action_id(event, action_id))
        return False

    # --- authentication -------------------------------------------------------------------------

    async def _login(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        if session.authenticated:
            out(with_action_id([("Response", "Success"), ("Message", "Already authenticated")], action_id))
            return False
        user = self.config.user(message.get("Username", ""))
        accepted = user is not None and user.allows(session.remote[0])
        if accepted and user is not None:
            if message.get("AuthType", "").lower() == "md5":
                key = message.get("Key", "")
                accepted = session.challenge is not None and key.lower() == challenge_key(
                    session.challenge, user.secret
                )
            else:
                accepted = message.get("Secret") == user.secret
        if not accepted or user is None:
            if self.login_failure_delay > 0:
                await asyncio.sleep(self.login_failure_delay)
            out(_error("Authentication failed", action_id))
            return True
        session.login(user)
        events = message.get("Events")
        if events is not None:
            session.set_eventmask(events)
        out(with_action_id([("Response", "Success"), ("Message", "Authentication accepted")], action_id))
        if not session.is_http:
            session.offer_event(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", str(self.pbx.uptime())),
                    ("LastReload", str(self.pbx.last_reload())),
                    ("Status", "Fully Booted"),
                ]
            )
        self.registry.broadcast(self._security_event(session, "SuccessfulAuth", "Informational"))
        return False

    def _security_event(
        self, session: Session, name: str, severity: str, request: str | None = None
    ) -> Headers:
        """Security events exactly as in ami_02 (SuccessfulAuth) and ami_10 (RequestBadFormat)."""
        headers: Headers = [
            ("Event", name),
            ("Privilege", "security,all"),
            ("EventTV", event_tv()),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", "1"),
        ]
        if request is None:
            headers.append(("AccountID", session.username))
        headers += [
            ("SessionID", session.session_id),
            ("LocalAddress", address_text(session.local)),
            ("RemoteAddress", address_text(session.remote)),
        ]
        if request is None:
            headers.append(("UsingPassword", "0"))
        else:
            headers.append(("RequestType", request))
        headers.append(("SessionTV", event_tv(session.created)))
        if request is not None:
            headers.append(("AccountID", session.username))
        return headers

    async def _challenge(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        if message.get("AuthType", "").lower() != "md5":
            out(_error("Must specify AuthType", action_id))
            return False
        if session.challenge is None:
            session.challenge = str(secrets.randbelow(2**31))
        out(with_action_id([("Response", "Success"), ("Challenge", session.challenge)], action_id))
        return False

    async def _logoff(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        out(with_action_id([("Response", "Goodbye"), ("Message", "Thanks for all the fish.")], action_id))
        return True

    # --- session actions ------------------------------------------------------------------------

    async def _ping(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        out(
            with_action_id(
                [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}")], action_id
            )
        )
        return False

    async def _events(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        on = session.set_eventmask(message.get("EventMask", "on"))
        out(with_action_id([("Response", "Success"), ("Events", "On" if on else "Off")], action_id))
        return False

    async def _filter(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        if message.get("Operation", "").lower() != "add":
            out(_error("Unknown operation", action_id))
            return False
        try:
            event_filter = parse_filter(message.get("MatchCriteria"), message.get("Filter", ""))
        except FilterError as error:
            out(_error(str(error), action_id))
            return False
        session.add_filter(event_filter)
        out(with_action_id([("Response", "Success"), ("Message", "Success")], action_id))
        return False

    async def _command(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        command = message.get("Command", "").strip()
        if not command:
            out(_error("No command provided", action_id))
            return False
        lines = await self._run_cli(session, command)
        status = "Success" if lines is not None else "Error"
        if lines is None:
            lines = [commands.unknown_command_line(command)]
        headers: Headers = [("Response", status), ("Message", "Command output follows")]
        headers += [("Output", line) for line in lines]
        out(with_action_id(headers, action_id))
        return False

    async def _run_cli(self, session: Session, command: str) -> list[str] | None:
        words = [word.lower() for word in command.split()]
        if words == ["core", "show", "version"]:
            return [commands.BUILD_LINE.format(version=self.version)]
        if words == ["core", "show", "uptime"]:
            return commands.uptime_lines(self.pbx.uptime(), self.pbx.last_reload())
        if words[:3] == ["module", "show", "like"] and len(words) == 4:
            return commands.module_lines(command.split()[3])
        if words == ["manager", "show", "connected"]:
            return commands.connected_lines(self.registry, session)
        if words == ["core", "show", "channels"]:
            reply = await self.pbx.handle("coreshowchannels", Message([("Action", "CoreShowChannels")]), None)
            rows = [
                commands.ChannelRow(
                    channel=item.get("Channel", ""),
                    location=f"{item.get('Exten', '')}@{item.get('Context', '')}:{item.get('Priority', '')}",
                    state=item.get("ChannelStateDesc", ""),
                    application=f"{item.get('Application', '')}({item.get('ApplicationData', '')})",
                    linkedid=item.get("Linkedid", ""),
                )
                for item in (Message(event) for event in reply.list_events)
                if item.get("Event") == "CoreShowChannel"
            ]
            return commands.channel_lines(rows, self.calls.processed)
        return None

    async def _core_settings(
        self, session: Session, message: Message, action_id: str | None, out: Out
    ) -> bool:
        headers: Headers = [
            ("Response", "Success"),
            ("AMIversion", AMI_VERSION),
            ("AsteriskVersion", self.version),
            ("SystemName", ""),
            ("CoreMaxCalls", "0"),
            ("CoreMaxLoadAvg", "0.000000"),
            ("CoreRunUser", ""),
            ("CoreRunGroup", ""),
            ("CoreMaxFilehandles", "0"),
            ("CoreRealTimeEnabled", "No"),
            ("CoreCDRenabled", "Yes"),
            ("CoreHTTPenabled", "Yes"),
            ("SoundsSearchCustomDir", "No"),
        ]
        out(with_action_id(headers, action_id))
        return False

    async def _core_status(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        now = time.time()
        startup = datetime.fromtimestamp(now - self.pbx.uptime(), UTC)
        reload = datetime.fromtimestamp(now - self.pbx.last_reload(), UTC)
        headers: Headers = [
            ("Response", "Success"),
            ("CoreStartupDate", startup.strftime("%Y-%m-%d")),
            ("CoreStartupTime", startup.strftime("%H:%M:%S")),
            ("CoreReloadDate", reload.strftime("%Y-%m-%d")),
            ("CoreReloadTime", reload.strftime("%H:%M:%S")),
            ("CoreCurrentCalls", str(self.calls.current)),
            ("CoreProcessedCalls", str(self.calls.processed)),
        ]
        out(with_action_id(headers, action_id))
        return False

    async def _wait_event(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        """WaitEvent: HTTP timeout capped at httptimeout - 10 s; answers as soon as an event is queued."""
        timeout: float | None = None
        raw = message.get("Timeout")
        if raw is not None:
            try:
                timeout = float(int(raw.strip()))
            except ValueError:
                timeout = None
            if timeout is not None and timeout < 0:
                timeout = None
        if session.is_http:
            ceiling = float(max(self.httptimeout - 10, 0))
            timeout = ceiling if timeout is None or timeout > ceiling else timeout
        await session.wait_for_event(timeout)
        session.touch()
        out(with_action_id([("Response", "Success"), ("Message", "Waiting for Event completed.")], action_id))
        for event in session.take_events():
            out(event)
        out(with_action_id([("Event", "WaitEventComplete")], action_id))
        return False

    async def _list_commands(
        self, session: Session, message: Message, action_id: str | None, out: Out
    ) -> bool:
        names = sorted({*self._handlers, *self.pbx.CALL_ACTIONS})
        headers: Headers = [("Response", "Success")]
        for name in names:
            classes = ",".join(required_classes(name)) or "<none>"
            headers.append((_display_name(name), f"{_display_name(name)} (Priv: {classes})"))
        out(with_action_id(headers, action_id))
        return False

    async def _user_event(self, session: Session, message: Message, action_id: str | None, out: Out) -> bool:
        name = message.get("UserEvent")
        if not name:
            out(_error("Missing UserEvent", action_id))
            return False
        event: Headers = [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", name)]
        event += [(k, v) for k, v in message if k.lower() not in ("action", "userevent")]
        out(with_action_id([("Response", "Success")], action_id))
        self.registry.broadcast(event)
        return False


_DISPLAY = {
    "coresettings": "CoreSettings", "corestatus": "CoreStatus", "coreshowchannels": "CoreShowChannels",
    "waitevent": "WaitEvent", "listcommands": "ListCommands", "userevent": "UserEvent",
    "queuestatus": "QueueStatus", "queuesummary": "QueueSummary", "devicestatelist": "DeviceStateList",
    "pjsipshowendpoints": "PJSIPShowEndpoints", "blindtransfer": "BlindTransfer", "mixmonitor": "MixMonitor",
    "stopmixmonitor": "StopMixMonitor", "messagesend": "MessageSend",
}  # fmt: skip


def _display_name(name: str) -> str:
    """How ListCommands spells an action (dispatch keys are lower case)."""
    return _DISPLAY.get(name, name[:1].upper() + name[1:])


def _error(message: str, action_id: str | None) -> Headers:
    return with_action_id([("Response", "Error"), ("Message", message)], action_id)
