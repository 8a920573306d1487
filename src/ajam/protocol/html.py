"""The ``manager`` AJAM encoder: manager messages as rows of an HTML table.

Asterisk sends a fixed "Manager Tester" form, then one ``<tr><td>Name</td><td>value</td></tr>`` row
per header and a ``<tr><td colspan="2"><hr></td></tr>`` row after each message (exact rules in
:mod:`ajam.protocol.translate`). Names keep their case; a repeated name is written ``Output-2``,
``Output-3``..., which the parser turns back into repeated ``Output`` headers (a name ``X-2`` right after
an ``X`` is therefore read as a second ``X``: the format cannot tell them apart).
"""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser

from ajam.errors import MessageTooLarge
from ajam.protocol.message import Message
from ajam.protocol.translate import (
    HTML_DOCUMENT_END,
    HTML_DOCUMENT_START,
    message_from_rows,
    rawman_text,
    translate,
)

DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024


def encode_manager_html(messages: Iterable[Iterable[tuple[str, str]]]) -> bytes:
    """The complete ``manager`` body Asterisk sends for these messages."""
    return HTML_DOCUMENT_START + translate(rawman_text(messages), xml=False) + HTML_DOCUMENT_END


def parse_manager_html(body: bytes, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> list[Message]:
    """Messages of a ``manager`` body (the preamble form and layout rows are ignored)."""
    if len(body) > max_body_size:
        raise MessageTooLarge(f"manager body of {len(body)} bytes exceeds the limit of {max_body_size}")
    reader = _TableReader()
    reader.feed(body.decode("utf-8", "surrogateescape"))
    reader.close()
    return reader.messages


class _TableReader(HTMLParser):
    """Collects two-cell rows into headers; an ``<hr>`` row ends a message."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[Message] = []
        self._rows: list[tuple[str, str]] = []
        self._cells: list[str] = []
        self._cell: list[str | None] | None = None
        self._layout_row = False
        self._separator = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._cells = []
            self._cell = None
            self._layout_row = False
            self._separator = False
        elif tag == "td":
            self._cell = []
            if any(name == "colspan" for name, _ in attrs):
                self._layout_row = True
        elif tag == "hr":
            self._separator = True
        elif tag == "br" and self._cell is not None:
            self._cell.append(None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            # Literal newlines are layout (Asterisk cuts values at line ends); <br> is an opaque-data line break.
            self._cells.append(
                "".join("\n" if part is None else part.replace("\n", "") for part in self._cell)
            )
            self._cell = None
        elif tag == "tr":
            if self._separator:
                self._end_message()
            elif not self._layout_row and len(self._cells) == 2:
                self._rows.append((self._cells[0], self._cells[1]))
            self._cells = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        self._end_message()

    def _end_message(self) -> None:
        if not self._rows:
            return
        self.messages.append(message_from_rows(self._rows))
        self._rows = []
