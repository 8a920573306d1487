"""The server messages of a capture, read with ajam's own rawman/stream parser (for round-trip tests)."""

from __future__ import annotations

from ajam.protocol.message import Message
from ajam.protocol.stream import StreamParser, parse_messages
from tests.protocol.reference import http_bodies
from tests.support.transcripts import Transcript


def rawman_messages(transcript: Transcript) -> list[Message]:
    """Every rawman body's messages (HTTP captures) or every message of the TCP stream."""
    if transcript.is_http:
        return [m for body in http_bodies(transcript, "text/plain") for m in parse_messages(body)]
    parser = StreamParser()
    parser.receive_data(transcript.server_bytes())
    return [m for m in parser if isinstance(m, Message)]
