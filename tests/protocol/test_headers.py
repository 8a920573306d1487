"""The canonical header table covers every header name the captured Asterisk sent."""

from __future__ import annotations

from ajam.protocol.headers import KNOWN_HEADERS
from ajam.protocol.translate import xml_attribute_name
from tests.protocol.reference import http_bodies, read_body, tcp_server_messages
from tests.support.transcripts import load, require_shared, transcript_paths


def test_every_captured_header_name_is_known() -> None:
    require_shared()
    known = {name.lower() for name in KNOWN_HEADERS}
    seen: set[str] = set()
    for path in transcript_paths():
        transcript = load(path)
        if transcript.is_http:
            messages = [m for body in http_bodies(transcript, "text/plain") for m in read_body(body)]
        else:
            messages = tcp_server_messages(transcript)[1]
        seen.update(key.lower() for headers in messages for key, _ in headers)
    assert seen - known == set()
    assert len(seen) > 200


def test_names_are_unique_and_distinct_as_xml_attributes() -> None:
    assert len({name.lower() for name in KNOWN_HEADERS}) == len(KNOWN_HEADERS)
    assert len({xml_attribute_name(name) for name in KNOWN_HEADERS}) == len(KNOWN_HEADERS)
