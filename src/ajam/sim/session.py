"""Per-session state of the simulated manager: login, permissions, event mask, filters, event queue.

A TCP session delivers events straight to its connection (``deliver`` callback). An HTTP session has
no connection of its own: events are queued (bounded, oldest dropped) from login on, and ``WaitEvent``
collects them. Whether a session wants an event follows Asterisk's order: the user's *read* classes
(``Privilege`` header), then the session's event mask (``Events`` action or ``Events:`` on login),
then the session's filters (``Filter`` action).

Filters (Asterisk 22 ``manager.c``): a legacy filter is a regular expression searched (unanchored)
in the whole event text, ``!`` in front making it an *exclude* filter; an advanced filter carries
``MatchCriteria: action(include|exclude),name(Event),header(Name),method(regex|exact|starts_with|
ends_with|contains|none)`` and matches its expression against one header (or the whole event).
No filters: everything passes. Include filters only: an event must match one. Exclude filters only:
an event must match none. Both: it must match an include filter and no exclude filter.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ajam.protocol.encode import encode_message
from ajam.protocol.permissions import CLASSES, event_class, parse_classes
from ajam.sim.config import User

Headers = list[tuple[str, str]]

MAX_QUEUED_EVENTS = 10_000
_METHODS = frozenset({"regex", "exact", "starts_with", "ends_with", "contains", "none"})
_CRITERION = re.compile(r"\s*(\w+)\s*\(([^)]*)\)\s*")


class FilterError(ValueError):
    """A Filter action that Asterisk would refuse; the message is the one Asterisk answers with."""


@dataclass(frozen=True)
class EventFilter:
    include: bool
    expression: str
    name: str | None = None
    header: str | None = None
    method: str = "regex"

    def matches(self, event: Headers, text: str) -> bool:
        if self.name is not None and (_first(event, "Event", "") or "").lower() != self.name.lower():
            return False
        subject = text
        if self.header is not None:
            value = _first(event, self.header, None)
            if value is None:
                return False
            subject = value
        if not self.expression:
            return True
        method = self.method
        if method in ("regex", "none"):
            return re.search(self.expression, subject) is not None
        if method == "exact":
            return subject == self.expression
        if method == "starts_with":
            return subject.startswith(self.expression)
        if method == "ends_with":
            return subject.endswith(self.expression)
        return self.expression in subject


def parse_filter(criteria: str | None, expression: str) -> EventFilter:
    """Build a filter from the ``MatchCriteria`` and ``Filter`` headers of a Filter action."""
    if not criteria:
        include = not expression.startswith("!")
        pattern = expression if include else expression[1:]
        _compile(pattern)
        return EventFilter(include, pattern)
    include, name, header, method = True, None, None, "none"
    for part in criteria.split(","):
        match = _CRITERION.fullmatch(part)
        if match is None:
            raise FilterError("Filter was formatted incorrectly.  Check the syntax of the filter given.")
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "action" and value.lower() in ("include", "exclude"):
            include = value.lower() == "include"
        elif key == "name" and value:
            name = value
        elif key == "header" and value:
            header = value
        elif key == "method" and value.lower() in _METHODS:
            method = value.lower()
        else:
            raise FilterError("Filter was formatted incorrectly.  Check the syntax of the filter given.")
    if method in ("regex", "none") and expression:
        _compile(expression)
    return EventFilter(include, expression, name, header, method)


def _compile(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise FilterError("Filter did not compile.  Check the syntax of the filter given.") from error


def _first(headers: Headers, key: str, default: str | None) -> str | None:
    lowered = key.lower()
    for name, value in headers:
        if name.lower() == lowered:
            return value
    return default


def event_text(event: Headers) -> str:
    """The event as it appears on the wire, which is what legacy filters search."""
    return encode_message(event).decode("utf-8", "surrogateescape")


def new_session_id() -> str:
    """An 8-hex-digit id, like Asterisk's ``mansession_id`` cookie and digest nonces."""
    return f"{secrets.randbits(32):08x}"


def _pointer_id() -> str:
    """A made-up ``SessionID`` in the style of Asterisk's (a heap pointer, ``0x7f6a9c0011a0``)."""
    return f"0x7f{secrets.randbits(40):010x}"


class Session:
    """One manager session: a TCP connection, or an HTTP cookie/digest session."""

    def __init__(
        self,
        *,
        transport: str,
        local: tuple[str, int],
        remote: tuple[str, int],
        deliver: Callable[[Headers], None] | None = None,
    ) -> None:
        self.transport = transport
        self.local = local
        self.remote = remote
        self.deliver = deliver
        self.id = new_session_id()
        self.session_id = _pointer_id()
        self.created = time.time()
        self.last_used = time.monotonic()
        self.user: User | None = None
        self.authenticated = False
        self.eventmask: frozenset[str] = frozenset(CLASSES)
        self.challenge: str | None = None
        self.include_filters: list[EventFilter] = []
        self.exclude_filters: list[EventFilter] = []
        self.closed = False
        self.digest_nc = 0
        self.fd = -1  # the socket's file descriptor (TCP), shown by ``manager show connected``
        self.busy = 0  # actions in progress (an HTTP session never expires while one runs)
        self._queue: deque[Headers] = deque(maxlen=MAX_QUEUED_EVENTS)
        self._queued = asyncio.Event()

    @property
    def is_http(self) -> bool:
        return self.deliver is None

    @property
    def username(self) -> str:
        return self.user.name if self.user is not None else ""

    def login(self, user: User) -> None:
        self.user = user
        self.authenticated = True
        self.challenge = None

    def set_eventmask(self, mask: str) -> bool:
        """Apply an ``Events``/``EventMask`` value; True when events are now on."""
        word = mask.strip().lower()
        if word in ("on", "yes", "true", "all", "-1"):
            self.eventmask = frozenset(CLASSES)
        elif word in ("off", "no", "false", "0", ""):
            self.eventmask = frozenset()
        else:
            self.eventmask = parse_classes(word)
        return bool(self.eventmask)

    def add_filter(self, event_filter: EventFilter) -> None:
        (self.include_filters if event_filter.include else self.exclude_filters).append(event_filter)

    def wants(self, event: Headers) -> bool:
        """Whether this session receives ``event`` (read classes, event mask, then filters)."""
        if not self.authenticated or self.user is None or self.closed:
            return False
        classes = event_class(_first(event, "Privilege", "") or "")
        if classes and not (classes & self.user.read and classes & self.eventmask):
            return False
        if not self.include_filters and not self.exclude_filters:
            return True
        text = event_text(event)
        if self.include_filters and not any(f.matches(event, text) for f in self.include_filters):
            return False
        return not any(f.matches(event, text) for f in self.exclude_filters)

    def offer_event(self, event: Headers) -> None:
        """Deliver (TCP) or queue (HTTP) an event if the session wants it."""
        if not self.wants(event):
            return
        if self.deliver is not None:
            self.deliver(event)
            self._queued.set()
        else:
            self._queue.append(event)
            self._queued.set()

    def take_events(self) -> list[Headers]:
        events = list(self._queue)
        self._queue.clear()
        self._queued.clear()
        return events

    async def wait_for_event(self, timeout: float | None) -> None:
        """Return as soon as an event is queued or delivered (at once if some are queued), or after ``timeout``."""
        if self._queue:
            return
        self._queued.clear()
        try:
            await asyncio.wait_for(self._queued.wait(), timeout)
        except TimeoutError:
            pass

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def close(self) -> None:
        self.closed = True
        self._queued.set()


class SessionRegistry:
    """Every live session, so that events reach all of them and HTTP cookies find theirs."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        while session.id in self._sessions:
            session.id = new_session_id()
        self._sessions[session.id] = session

    def remove(self, session: Session) -> None:
        session.close()
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def broadcast(self, event: Headers) -> None:
        for session in list(self._sessions.values()):
            session.offer_event(event)
