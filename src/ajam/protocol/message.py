"""The manager message model: ordered headers with case-insensitive lookup.

AMI messages are lists of ``Key: Value`` lines. Keys repeat (``Variable``, ``ChanVariable(...)``,
``Output``), order matters, and lookups must not care about case (the mxml encoder lowercases keys).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import overload

JsonValue = str | list[str]


def split_header(line: str) -> tuple[str, str] | None:
    """``"Key: Value"`` → ``("Key", "Value")``; ``None`` for a line without a colon.

    The value runs from after the first ``:`` and one optional space to the end of the line.
    """
    key, sep, value = line.partition(":")
    if not sep:
        return None
    if value[:1] == " ":
        value = value[1:]
    return key, value


def parse_header_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Headers and colon-less lines of one message's text (LF or CRLF line ends, blank lines skipped)."""
    headers: list[tuple[str, str]] = []
    lines: list[str] = []
    if text.count("\n") == text.count("\r\n"):
        # Every line ends with CRLF (the usual case): split once on CRLF and cut "Key: Value" with one
        # C-level partition; any other line shape falls back to the general rule of split_header.
        for line in text.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep and ":" not in key:
                headers.append((key, value))
            elif line:
                _add_line(line, headers, lines)
        return headers, lines
    for line in text.split("\n"):
        if line[-1:] == "\r":
            line = line[:-1]
        if line:
            _add_line(line, headers, lines)
    return headers, lines


def _add_line(line: str, headers: list[tuple[str, str]], lines: list[str]) -> None:
    pair = split_header(line)
    if pair is None:
        lines.append(line)
    else:
        headers.append(pair)


class Message:
    """One manager message: ordered ``(key, value)`` headers plus raw output lines.

    ``lines`` holds lines that are not ``Key: Value`` headers (legacy ``Response: Follows`` command
    output, stray colon-less lines) so that nothing a PBX sends is ever dropped.

    A message read from the wire may keep its text and split it into headers on first use
    (:func:`message_from_text`): a client that only looks at the event name of most events never pays
    for the rest. Both ways give the same headers.
    """

    __slots__ = ("_headers", "_index", "_lines", "_text")

    kind = "message"

    def __init__(self, headers: Iterable[tuple[str, str]], lines: Iterable[str] = ()) -> None:
        self._headers: tuple[tuple[str, str], ...] = tuple(headers)
        self._lines: tuple[str, ...] = tuple(lines)
        self._index: dict[str, list[str]] | None = None
        self._text: str | None = None

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        if self._text is not None:
            self._split_text()
        return self._headers

    @property
    def lines(self) -> tuple[str, ...]:
        if self._text is not None:
            self._split_text()
        return self._lines

    def _split_text(self) -> None:
        headers, lines = parse_header_lines(self._text or "")
        self._headers = tuple(headers)
        self._lines = tuple(lines)
        self._text = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), []).append(value)
            self._index = index
        return index

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (any case), or ``default``."""
        if self._text is not None and self._index is None:
            searched, found = self._find_in_text(key)
            if searched:
                return default if found is None else found
        values = self._lookup().get(key.lower())
        return values[0] if values else default

    def _find_in_text(self, key: str) -> tuple[bool, str | None]:
        """``get`` on a message not yet split: find the first line ``key:`` (any case) in the text.

        Lets a client read ``ActionID`` or ``Event`` of every message without splitting all of them.
        ``(False, None)`` when the key could match in ways a text search cannot see.
        """
        text = self._text or ""
        size = len(key)
        if text[size : size + 1] == ":" and text[:size].lower() == key.lower() and ":" not in key:
            start = size + 1  # the first line, as for "Event" and "Response"
        else:
            pattern = _line_start_pattern(key)
            if pattern is None:
                return False, None
            match = pattern.search(text)
            if match is None:
                return True, None
            if match.group(1).lower() != key.lower():  # matched by case folding beyond lower()
                return False, None
            start = match.end()
        end = text.find("\r\n", start)
        value = text[start:] if end < 0 else text[start:end]
        return True, value[1:] if value[:1] == " " else value

    def getall(self, key: str) -> list[str]:
        """Every value of ``key`` in order (empty list when absent)."""
        return list(self._lookup().get(key.lower(), ()))

    def __getitem__(self, key: str) -> str:
        values = self._lookup().get(key.lower())
        if not values:
            raise KeyError(key)
        return values[0]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(self) is type(other)
            and self.headers == other.headers
            and self.lines == other.lines
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.headers, self.lines))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.headers)!r})"

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def output(self) -> list[str]:
        """Command output: every ``Output:`` header followed by the raw (colon-less) lines."""
        return self.getall("Output") + list(self.lines)

    def to_dict(self) -> dict[str, JsonValue]:
        """Headers as a JSON-ready object; a repeated key becomes a list of its values in order.

        Raw output lines (legacy ``Response: Follows``) are merged into ``Output``.
        """
        result: dict[str, JsonValue] = {}
        for key, value in self.headers:
            present = result.get(key)
            if present is None:
                result[key] = value
            elif isinstance(present, list):
                present.append(value)
            else:
                result[key] = [present, value]
        if self.lines:
            existing = result.get("Output")
            merged = ([existing] if isinstance(existing, str) else list(existing or [])) + list(self.lines)
            result["Output"] = merged
        return result


class Response(Message):
    """A reply to an action: first header is ``Response``."""

    __slots__ = ()
    kind = "response"

    @property
    def status(self) -> str:
        return self.get("Response", "")

    @property
    def message(self) -> str:
        return self.get("Message", "")

    @property
    def is_success(self) -> bool:
        return self.status.lower() in ("success", "goodbye", "follows")

    @property
    def starts_list(self) -> bool:
        """True when list events follow (``EventList: start``)."""
        return self.get("EventList", "").lower() == "start"


class Event(Message):
    """An unsolicited or list event: first header is ``Event``."""

    __slots__ = ()
    kind = "event"

    @property
    def name(self) -> str:
        return self.get("Event", "")

    @property
    def ends_list(self) -> bool:
        """True for the event that closes a list (``EventList: Complete``)."""
        return self.get("EventList", "").lower() == "complete"


class Action(Message):
    """A client request: first header is ``Action`` (used by the simulator to read what clients send)."""

    __slots__ = ()
    kind = "action"

    @property
    def name(self) -> str:
        return self.get("Action", "")


@lru_cache(maxsize=256)
def _line_start_pattern(key: str) -> re.Pattern[str] | None:
    """A case-insensitive search for a line ``key:`` after the first; ``None`` for keys a text search
    cannot handle (empty, non-ASCII, or holding a colon or line break)."""
    if not key or not key.isascii() or any(char in key for char in ":\r\n"):
        return None
    return re.compile("\n(" + re.escape(key) + "):", re.IGNORECASE)  # the first line is checked apart


_TYPE_OF_FIRST_LINE: dict[str, type[Message]] = {}  # filled below: "event:" → Event, ...


def message_from_text(text: str) -> Message | None:
    """A message that splits ``text`` (non-empty lines joined by CRLF) into headers on first use, or
    ``None`` when its type is not plain from the first line (then build it with :func:`make_message`).

    The type comes from the first line alone, which is what :func:`make_message` would decide too:
    a first line ``Event: ...`` is the first header.
    """
    colon = text.find(":", 0, 9)
    cls = _TYPE_OF_FIRST_LINE.get(text[: colon + 1].lower()) if colon > 0 else None
    if cls is None:
        return None
    message = _new_object(cls)
    message._text = text
    message._index = None
    return message


def messages_from_texts(texts: Iterable[str], fallback: Callable[[str], Message | None]) -> list[Message]:
    """:func:`message_from_text` for many texts at once (the stream parser's hot loop); a text it
    cannot take goes to ``fallback``, whose ``None`` means "nothing there"."""
    messages: list[Message] = []
    append = messages.append
    new = _new_object
    message: Message
    for text in texts:
        if text.startswith("Event:"):
            message = new(Event)
        elif text.startswith("Response:"):
            message = new(Response)
        else:
            other = message_from_text(text) or fallback(text)
            if other is not None:
                append(other)
            continue
        message._text = text
        message._index = None
        append(message)
    return messages


_new_object = object.__new__


def make_message(headers: list[tuple[str, str]], lines: list[str] | tuple[str, ...] = ()) -> Message:
    """Build the right message type from the first header (``Response``, ``Event`` or ``Action``)."""
    if headers:
        first = headers[0][0].lower()
        if first == "response":
            return Response(headers, lines)
        if first == "event":
            return Event(headers, lines)
        if first == "action":
            return Action(headers, lines)
    for key, _ in headers:
        lowered = key.lower()
        if lowered == "response":
            return Response(headers, lines)
        if lowered == "event":
            return Event(headers, lines)
        if lowered == "action":
            return Action(headers, lines)
    return Message(headers, lines)


_TYPE_OF_FIRST_LINE.update({"response:": Response, "event:": Event, "action:": Action})
