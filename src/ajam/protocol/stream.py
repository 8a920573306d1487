"""Incremental parser for the AMI key/value format (the TCP stream and ``rawman`` bodies).

Rules it enforces (Asterisk ``manager.c``, and what the captures in ``shared/asterisk`` show):

* A TCP session starts with one banner line, ``Asterisk Call Manager/<version>``.
* A message is ``Key: Value`` lines; a blank line ends it. Lines end with CRLF, but a bare LF is
  accepted too (Asterisk emits ``\\r\\n\\n`` after some lists; the stray newlines are skipped).
* A value runs from after the first ``:`` (and one optional space) to the end of the line, so values
  may contain ``: ``; a value may be empty; a line without a colon is kept in ``Message.lines``.
* Legacy ``Response: Follows`` carries raw command output terminated by ``--END COMMAND--``; the output
  may contain blank lines, so that message ends at the blank line after the marker.
* Bytes are split into messages before decoding, so a UTF-8 character split across reads survives;
  invalid UTF-8 is decoded with ``surrogateescape`` (lossless: nothing is dropped).
* The buffer is bounded: a message larger than ``max_message_size`` raises :class:`MessageTooLarge`
  once, and the parser skips to the next blank line and carries on.

Like h11's receive buffer, the parser remembers how far it already searched, so a message that arrives
one byte at a time costs one scan, not one per byte. When many messages arrive in one read, they are cut
in one pass and handed out with their text, split into headers on first use (``Message`` does that;
``get("ActionID")`` and the event name need no split): the parser is benchmarked in ``bench/``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat

from ajam.errors import MessageTooLarge, RemoteProtocolError
from ajam.protocol.message import (
    Message,
    make_message,
    messages_from_texts,
    parse_header_lines,
    split_header,
)

DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024
BANNER_PREFIX = b"Asterisk Call Manager/"
MAX_BANNER_SIZE = 1024

_BLANK_LINE = re.compile(rb"\n\r?\n")
_FOLLOWS = re.compile(rb"[Rr][Ee][Ss][Pp][Oo][Nn][Ss][Ee]:[ \t]*[Ff]ollows\r?\n")
_END_COMMAND = b"--END COMMAND--"
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message"})
_BARE_LINE_FEED = re.compile(rb"(?<!\r)\n")

__all__ = ["Banner", "StreamParser", "decode_text", "parse_block", "parse_messages", "split_header"]


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line of an AMI TCP session, e.g. ``Asterisk Call Manager/11.0.0``."""

    version: str

    def encode(self) -> bytes:
        return BANNER_PREFIX + self.version.encode("ascii") + b"\r\n"


def decode_text(raw: bytes) -> str:
    """Decode wire bytes without ever losing any: invalid UTF-8 becomes surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def parse_block(block: bytes) -> Message:
    """Parse one complete message (without its terminating blank line)."""
    text = decode_text(block)
    if _FOLLOWS.match(block):
        return _parse_follows(text)
    headers, lines = parse_header_lines(text)
    return make_message(headers, lines)


def _parse_follows(text: str) -> Message:
    """Legacy command output: a few headers, raw output lines, then ``--END COMMAND--``."""
    headers: list[tuple[str, str]] = []
    output: list[str] = []
    in_headers = True
    for line in text.split("\n"):
        if line[-1:] == "\r":
            line = line[:-1]
        if in_headers:
            pair = split_header(line)
            if pair is not None and pair[0].lower() in _FOLLOWS_HEADERS:
                headers.append(pair)
                continue
            in_headers = False
        marker = line.find(_END_COMMAND.decode())
        if marker >= 0:
            if line[:marker]:
                output.append(line[:marker])
            break
        output.append(line)
    while output and not output[-1]:
        output.pop()
    return make_message(headers, output)


class StreamParser:
    """Bytes in, messages out. Never touches a socket: feed it with :meth:`receive_data`."""

    def __init__(
        self, *, expect_banner: bool = True, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    ) -> None:
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._scanned = 0
        self._expect_banner = expect_banner
        self._discarding = False
        self._eof = False
        self._ready: deque[Message] = deque()
        self._idle = False  # True: nothing more can come out before new data or EOF
        self.skipped_messages = 0

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the peer (any split, even one byte at a time)."""
        self._buffer += data
        self._idle = False

    def receive_eof(self) -> None:
        """The peer closed: a final message without its blank line is still delivered."""
        self._eof = True
        self._idle = False

    @property
    def buffered(self) -> int:
        """Bytes held but not yet returned as a message."""
        return len(self._buffer)

    def __iter__(self) -> Iterator[Message | Banner]:
        """Every complete message available now (raises :class:`MessageTooLarge` where one was skipped)."""
        ready = self._ready
        while True:
            while ready:
                yield ready.popleft()
            item = self.next_message()
            if item is None:
                return
            yield item

    def next_message(self) -> Message | Banner | None:
        """The next complete message or banner, or ``None`` when more data is needed."""
        if self._ready:
            return self._ready.popleft()
        if self._idle:
            return None
        if self._discarding and not self._skip_oversized():
            return None
        if self._expect_banner:
            return self._next_banner()
        if self._take_plain_messages():
            return self._ready.popleft()
        self._strip_leading_newlines()
        buffer = self._buffer
        if not buffer:
            return None
        end = self._find_end()
        if end is None:
            if len(buffer) > self.max_message_size:
                self._start_discarding()
            if self._eof and buffer.strip():
                block = bytes(buffer)
                buffer.clear()
                self._scanned = 0
                return parse_block(block)
            return None
        body_end, message_end = end
        block = bytes(buffer[:body_end])
        del buffer[:message_end]
        self._scanned = 0
        if len(block) > self.max_message_size:
            self.skipped_messages += 1
            raise MessageTooLarge(
                f"message of {len(block)} bytes exceeds the limit of {self.max_message_size}"
            )
        return parse_block(block)

    def _take_plain_messages(self) -> bool:
        """Fast path: cut every complete message in the buffer at once, when that is plainly safe.

        Safe means: every LF has its CR (so each blank line is exactly ``\r\n\r\n``), no legacy
        ``Response: Follows`` (its output may hold blank lines) and no message over the size limit; the
        messages before the first spot that is not safe are taken. Anything else is left to the
        message-by-message path, which knows every rule. Both paths give the same messages.
        """
        buffer = self._buffer
        end = buffer.rfind(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            return False
        end += 4
        segment = bytes(buffer[:end])
        irregular = end
        if segment.count(b"\n") != segment.count(b"\r\n"):
            irregular = _bare_line_feed(segment)
        if b"ollows" in segment:
            irregular = _legacy_follows(segment, irregular)
        if irregular < end:
            end = segment.rfind(b"\r\n\r\n", 0, irregular) + 4
            if end < 4:
                return False
            segment = segment[:end]
        if end > self.max_message_size and max(map(len, segment.split(b"\r\n\r\n"))) > self.max_message_size:
            return False
        del buffer[:end]
        self._scanned = 0
        # What is left is the start of the next message: no blank line in it means no message before more
        # data arrives, and the message-by-message path need not look (it would only check the size).
        self._idle = (
            len(buffer) <= self.max_message_size and b"\n\n" not in buffer and b"\n\r\n" not in buffer
        )
        ready = self._ready
        blocks = segment.split(b"\r\n\r\n")
        # Decoding block by block keeps ASCII-only messages compact (one byte per character).
        texts = map(bytes.decode, blocks, repeat("utf-8"), repeat("surrogateescape"))
        ready.extend(messages_from_texts(texts, _text_block))
        return bool(ready)

    def _next_banner(self) -> Banner | None:
        newline = self._buffer.find(b"\n")
        if newline < 0:
            if len(self._buffer) > MAX_BANNER_SIZE or (self._eof and self._buffer):
                raise RemoteProtocolError(_describe_non_ami(bytes(self._buffer[:64])))
            return None
        line = bytes(self._buffer[:newline]).rstrip(b"\r")
        if not line.startswith(BANNER_PREFIX):
            raise RemoteProtocolError(_describe_non_ami(line[:64]))
        del self._buffer[: newline + 1]
        self._expect_banner = False
        return Banner(decode_text(line[len(BANNER_PREFIX) :]))

    def _strip_leading_newlines(self) -> None:
        buffer = self._buffer
        count = 0
        size = len(buffer)
        while count < size and buffer[count] in (10, 13):
            count += 1
        if count:
            del buffer[:count]
            self._scanned = 0

    def _find_end(self) -> tuple[int, int] | None:
        """Where the current message's body ends and where the next one starts."""
        buffer = self._buffer
        if _FOLLOWS.match(buffer):
            marker = buffer.find(_END_COMMAND)
            if marker < 0:
                self._scanned = max(0, len(buffer) - len(_END_COMMAND))
                return None
            match = _BLANK_LINE.search(buffer, marker)
        else:
            match = _BLANK_LINE.search(buffer, max(0, self._scanned - 2))
        if match is None:
            self._scanned = len(buffer)
            return None
        return match.start() + 1, match.end()

    def _start_discarding(self) -> None:
        self.skipped_messages += 1
        size = len(self._buffer)
        del self._buffer[:-2]
        self._scanned = 0
        self._discarding = True
        raise MessageTooLarge(
            f"message exceeds the limit of {self.max_message_size} bytes ({size} buffered without an end);"
            " skipping to the next blank line"
        )

    def _skip_oversized(self) -> bool:
        """Drop bytes up to the next blank line; True once resynchronised."""
        match = _BLANK_LINE.search(self._buffer)
        if match is None:
            del self._buffer[:-2]
            return False
        del self._buffer[: match.end()]
        self._discarding = False
        return True


def _text_block(text: str) -> Message | None:
    """A message of the fast path that does not start plainly: stray newlines first, or an odd first line."""
    text = text.lstrip("\r\n")  # stray newlines between messages, as in _strip_leading_newlines
    if not text:
        return None
    # The line end the split removed goes back, as the message-by-message path keeps it.
    headers, lines = parse_header_lines(text + "\r\n")
    return make_message(headers, lines)


def _bare_line_feed(segment: bytes) -> int:
    """Where the first LF without a CR before it is (the caller knows there is one)."""
    match = _BARE_LINE_FEED.search(segment)
    return match.start() if match is not None else len(segment)


def _legacy_follows(segment: bytes, end: int) -> int:
    """Where the first line ``Response: Follows`` before ``end`` starts (``end`` if there is none)."""
    found = segment.find(b"ollows", 0, end)
    while found >= 0:
        line_start = segment.rfind(b"\n", 0, found) + 1
        # Anywhere in the line, not only at its start: stray CRs before a message are skipped later.
        if _FOLLOWS.search(segment, line_start, found + 8):
            return line_start
        found = segment.find(b"ollows", found + 6, end)
    return end


def _describe_non_ami(start: bytes) -> str:
    if start.startswith(b"HTTP/"):
        return "the peer answered with HTTP, not the AMI banner: use an http:// URL for this port"
    if start[:1] in (b"\x15", b"\x16"):
        return "the peer answered with TLS: use amis:// for this port"
    return (
        "the peer did not send the AMI banner 'Asterisk Call Manager/...': is this the manager port (5038)?"
    )


def parse_messages(body: bytes, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> list[Message]:
    """Parse a complete body of messages, such as a ``rawman`` HTTP response."""
    parser = StreamParser(expect_banner=False, max_message_size=max_message_size)
    parser.receive_data(body)
    parser.receive_eof()
    return [item for item in parser if isinstance(item, Message)]
