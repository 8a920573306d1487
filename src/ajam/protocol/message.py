"""The manager message model: ordered headers with case-insensitive lookup.

AMI messages are lists of ``Key: Value`` lines. Keys repeat (``Variable``, ``ChanVariable(...)``,
``Output``), order matters, and lookups must not care about case (the mxml encoder lowercases keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import overload

JsonValue = str | list[str]


class Message:
    """One manager message: ordered ``(key, value)`` headers plus raw output lines.

    ``lines`` holds lines that are not ``Key: Value`` headers (legacy ``Response: Follows`` command
    output, stray colon-less lines) so that nothing a PBX sends is ever dropped.
    """

    __slots__ = ("headers", "lines", "_index")

    kind = "message"

    def __init__(self, headers: Iterable[tuple[str, str]], lines: Iterable[str] = ()) -> None:
        self.headers: tuple[tuple[str, str], ...] = tuple(headers)
        self.lines: tuple[str, ...] = tuple(lines)
        self._index: dict[str, list[str]] | None = None

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
        values = self._lookup().get(key.lower())
        return values[0] if values else default

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
