"""Turn a capture of ``../shared/asterisk`` into the raw AMI TCP stream Asterisk sent (the S>C bytes).

HTTP captures (``http_*``) carry rawman bodies: their events are re-framed as one AMI stream behind a
banner, which is what a TCP client would have read.
"""

from __future__ import annotations

from pathlib import Path

from ajam.protocol.encode import encode_message
from ajam.protocol.message import Event
from ajam.protocol.stream import parse_messages
from tests.support.transcripts import Transcript, load, split_http_response

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def server_stream(path: Path) -> bytes:
    """The bytes a TCP client reads for this capture: banner + every message of the server."""
    transcript = load(path)
    if not transcript.is_http:
        return transcript.server_bytes()
    return BANNER + b"".join(encode_message(list(event.headers)) for event in http_events(transcript))


def http_events(transcript: Transcript) -> list[Event]:
    events: list[Event] = []
    for chunk in transcript.of_kind("S>C"):
        _status, _headers, body = split_http_response(chunk.data)  # one HTTP response per chunk
        events.extend(m for m in parse_messages(body) if isinstance(m, Event))
    return events
