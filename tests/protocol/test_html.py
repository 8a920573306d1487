"""The HTML ``manager`` encoder: byte-exact against the capture and the same messages as rawman."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ajam.errors import MessageTooLarge, ProtocolError
from ajam.protocol.headers import KNOWN_HEADERS
from ajam.protocol.html import encode_manager_html, parse_manager_html
from ajam.protocol.message import Event, Response
from ajam.protocol.stream import parse_messages
from ajam.protocol.translate import HTML_DOCUMENT_END, HTML_DOCUMENT_START, translate
from tests.protocol.captured import rawman_messages
from tests.protocol.reference import Headers, http_bodies, read_manager_html
from tests.support.transcripts import SHARED, load, require_shared, transcript_params

CAPTURE = "http_13_manager_html_login_ping_coreshowchannels.txt"


def html_bodies() -> list[bytes]:
    require_shared()
    return http_bodies(load(SHARED / "transcripts" / CAPTURE), "text/html")


def test_capture_bodies_parse_to_the_reference_rows() -> None:
    bodies = html_bodies()
    assert len(bodies) == 4
    for body in bodies:
        assert [list(m.headers) for m in parse_manager_html(body)] == read_manager_html(body)


def test_capture_bodies_are_reproduced_byte_for_byte() -> None:
    for body in html_bodies():
        assert encode_manager_html(parse_manager_html(body)) == body


def test_capture_messages_and_repeated_output() -> None:
    bodies = html_bodies()
    start, complete = parse_manager_html(bodies[2])
    assert isinstance(start, Response) and isinstance(complete, Event)
    assert complete.headers == (
        ("Event", "CoreShowChannelsComplete"),
        ("EventList", "Complete"),
        ("ListItems", "0"),
    )
    (uptime,) = parse_manager_html(bodies[3])
    assert [key for key, _ in uptime.headers] == ["Response", "Message", "Output", "Output"]


def test_exact_escaping_and_counters() -> None:
    body = encode_manager_html(
        [[("Event", "X"), ("A<b>", "x & 'y' \"z\" <w>"), ("Output", "1"), ("Output", "2")]]
    )
    assert (
        body
        == HTML_DOCUMENT_START
        + (
            b"<tr><td>Event</td><td>X</td></tr>\n"
            b"<tr><td>A&lt;b&gt;</td><td>x &amp; &apos;y&apos; &quot;z&quot; &lt;w&gt;</td></tr>\n"
            b"<tr><td>Output</td><td>1</td></tr>\n"
            b"<tr><td>Output-2</td><td>2</td></tr>\n"
            b'<tr><td colspan="2"><hr></td></tr>\r\n'
        )
        + HTML_DOCUMENT_END
    )
    (message,) = parse_manager_html(body)
    assert message.headers == (
        ("Event", "X"),
        ("A<b>", "x & 'y' \"z\" <w>"),
        ("Output", "1"),
        ("Output", "2"),
    )


def test_empty_body() -> None:
    assert encode_manager_html([]) == HTML_DOCUMENT_START + HTML_DOCUMENT_END
    assert parse_manager_html(encode_manager_html([])) == []


def test_opaque_data_lines() -> None:
    text = b"Response: Follows\r\nraw one\r\nsecond: line\r\n\r\n"
    body = HTML_DOCUMENT_START + translate(text, xml=False) + HTML_DOCUMENT_END
    assert b"<tr><td>Opaque-data</td><td>raw one<br>\nsecond: line</td></tr>\n" in body
    (message,) = parse_manager_html(body)
    assert message.headers == (("Response", "Follows"),)
    assert message.lines == ("raw one", "second: line")


def test_message_without_separator_at_the_end_is_kept() -> None:
    body = HTML_DOCUMENT_START + b"<tr><td>Response</td><td>Success</td></tr>\n</table></body>"
    assert parse_manager_html(body)[0].headers == (("Response", "Success"),)


def test_body_size_is_bounded() -> None:
    body = encode_manager_html([[("Event", "X")]])
    with pytest.raises(MessageTooLarge):
        parse_manager_html(body, max_body_size=len(body) - 1)


def _asterisk_view(headers: Headers) -> Headers:
    return [(key, value.strip("".join(map(chr, range(33))))) for key, value in headers]


@pytest.mark.parametrize("path", transcript_params())
def test_every_captured_message_round_trips_through_html(path: Path) -> None:
    messages = rawman_messages(load(path))
    if not messages:
        pytest.skip("no rawman messages in this capture")
    decoded = parse_manager_html(encode_manager_html(messages))
    assert [_asterisk_view(list(m.headers)) for m in decoded] == [
        _asterisk_view(list(m.headers)) for m in messages
    ]


_NAMES = st.one_of(
    st.sampled_from(KNOWN_HEADERS), st.from_regex(r"[A-Za-z][A-Za-z0-9<>&'\"_]{0,12}", fullmatch=True)
)
_VALUE_CHARS = st.one_of(
    st.characters(min_codepoint=1, blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
)
_VALUES = st.text(_VALUE_CHARS, max_size=40).map(lambda v: v.strip("".join(map(chr, range(33)))))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=8), max_size=5))
def test_arbitrary_messages_round_trip(messages: list[Headers]) -> None:
    decoded = parse_manager_html(encode_manager_html(messages))
    rawman_bytes = b"".join(
        "".join(f"{k}: {v}\r\n" for k, v in m).encode("utf-8", "surrogateescape") + b"\r\n" for m in messages
    )
    assert [list(m.headers) for m in decoded] == [list(m.headers) for m in parse_messages(rawman_bytes)]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bodies_only_raise_protocol_errors(body: bytes) -> None:
    try:
        parse_manager_html(HTML_DOCUMENT_START + body)
        parse_manager_html(body)
    except ProtocolError:
        pass
