"""The mxml encoder: byte-exact against the capture, same messages as rawman, and safe XML parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ajam.errors import MessageTooLarge, ProtocolError, RemoteProtocolError
from ajam.protocol.headers import KNOWN_HEADERS
from ajam.protocol.message import Event, Response
from ajam.protocol.mxml import encode_mxml, parse_mxml
from ajam.protocol.stream import parse_messages
from ajam.protocol.translate import translate
from tests.protocol.captured import rawman_messages
from tests.protocol.reference import Headers, http_bodies, lower_keys, read_mxml
from tests.support.transcripts import SHARED, load, require_shared, transcript_params

CAPTURE = "http_12_mxml_login_ping_coreshowchannels.txt"


def mxml_bodies() -> list[bytes]:
    require_shared()
    return http_bodies(load(SHARED / "transcripts" / CAPTURE), "text/xml")


def test_capture_bodies_parse_to_the_reference_attributes() -> None:
    bodies = mxml_bodies()
    assert len(bodies) == 6
    for body in bodies:
        parsed = parse_mxml(body)
        assert lower_keys([list(m.headers) for m in parsed]) == read_mxml(body)


def test_capture_bodies_are_reproduced_byte_for_byte() -> None:
    for body in mxml_bodies():
        assert encode_mxml(parse_mxml(body)) == body


def test_names_come_back_in_canonical_ami_case_and_outputs_repeat() -> None:
    bodies = mxml_bodies()
    start, complete = parse_mxml(bodies[2])
    assert isinstance(start, Response) and isinstance(complete, Event)
    assert start.headers == (
        ("Response", "Success"),
        ("EventList", "start"),
        ("Message", "Channels will follow"),
    )
    assert complete.headers == (
        ("Event", "CoreShowChannelsComplete"),
        ("EventList", "Complete"),
        ("ListItems", "0"),
    )
    (uptime,) = parse_mxml(bodies[4])
    assert uptime.getall("Output") == [
        "System uptime: 2 minutes, 44 seconds",
        "Last reload: 2 minutes, 44 seconds",
    ]
    assert [key for key, _ in uptime.headers] == ["Response", "Message", "Output", "Output"]


def test_exact_encoding_of_escapes_names_and_counters() -> None:
    body = encode_mxml(
        [
            [
                ("Event", "Hangup"),
                ("Cause-txt", "<a & 'b' \"c\">"),
                ("ChanVariable(x)", "1"),
                ("9lives", "y"),
                ("Output", "one"),
                ("Output", "two"),
                ("Output", "three"),
                ("Имя", "Мария"),
            ]
        ]  # 6 UTF-8 bytes, 6 underscores
    )
    assert (
        body
        == (
            "<ajax-response>\n<response type='object' id='unknown'><generic event='Hangup'"
            " cause_txt='&lt;a &amp; &apos;b&apos; &quot;c&quot;&gt;' chanvariable_x_='1' _9lives='y'"
            " output='one' output-2='two' output-3='three' ______='Мария' /></response>\n</ajax-response>\n"
        ).encode()
    )
    (message,) = parse_mxml(body)
    assert message.headers[:2] == (("Event", "Hangup"), ("Cause-txt", "<a & 'b' \"c\">"))
    assert message.getall("Output") == ["one", "two", "three"]


def test_empty_body_and_empty_message_list() -> None:
    assert encode_mxml([]) == b"<ajax-response>\n</ajax-response>\n"
    assert parse_mxml(encode_mxml([])) == []


def test_ajaxdest_and_objtype() -> None:
    body = encode_mxml([[("Response", "Success")]], dest="d1", objtype="obj")
    assert (
        body
        == b"<ajax-response>\n<response type='object' id='d1'><obj response='Success' /></response>\n</ajax-response>\n"
    )
    assert parse_mxml(body)[0].headers == (("Response", "Success"),)


def test_opaque_lines_survive() -> None:
    text = b"Response: Follows\r\nraw one\r\nraw\ttwo: x\r\nthree\r\n\r\n"
    xml = b"<ajax-response>\n" + translate(text, xml=True) + b"</ajax-response>\n"
    assert b"opaque_data='raw one\nraw\ttwo: x\nthree'" in xml
    (message,) = parse_mxml(xml)
    assert message.headers == (("Response", "Follows"),)
    assert message.lines == ("raw one", "raw\ttwo: x", "three")


def _asterisk_view(headers: Headers) -> Headers:
    """Asterisk trims bytes below 33 at both ends of a value when it translates (``ast_trim_blanks``)."""
    return [(key.lower(), value.strip("".join(map(chr, range(33))))) for key, value in headers]


@pytest.mark.parametrize("path", transcript_params())
def test_every_captured_message_round_trips_through_mxml(path: Path) -> None:
    messages = rawman_messages(load(path))
    if not messages:
        pytest.skip("no rawman messages in this capture")
    decoded = parse_mxml(encode_mxml(messages))
    assert [_asterisk_view(list(m.headers)) for m in decoded] == [
        _asterisk_view(list(m.headers)) for m in messages
    ]
    known = {name.lower(): name for name in KNOWN_HEADERS}
    for original, back in zip(messages, decoded):
        for (key, _), (decoded_key, _) in zip(original.headers, back.headers):
            assert decoded_key == known[key.lower()]
        assert type(original) is type(back)


_NAMES = st.one_of(
    st.sampled_from(KNOWN_HEADERS), st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,12}", fullmatch=True)
)
_VALUE_CHARS = st.one_of(
    st.characters(min_codepoint=1, blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    st.characters(
        min_codepoint=0xDC80, max_codepoint=0xDCFF
    ),  # invalid UTF-8 bytes, as surrogateescape keeps them
)
_VALUES = st.text(_VALUE_CHARS, max_size=40).map(lambda v: v.strip("".join(map(chr, range(33)))))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(_NAMES, _VALUES), min_size=1, max_size=8), max_size=5))
def test_arbitrary_messages_round_trip(messages: list[Headers]) -> None:
    decoded = parse_mxml(encode_mxml(messages))
    rawman = [list(m.headers) for m in parse_messages(b"".join(_rawman(m) for m in messages))]
    assert lower_keys([list(m.headers) for m in decoded]) == lower_keys(rawman)


def _rawman(headers: Headers) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "surrogateescape") + b"\r\n"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<ajax-response><response type='object' id='x'><generic response='&lol9;' /></response></ajax-response>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ajax-response><response type='object' id='x'><generic response='&xxe;' /></response></ajax-response>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><ajax-response/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_entities_and_dtds_are_refused_quickly(body: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteProtocolError) as caught:
        parse_mxml(body)
    assert time.monotonic() - started < 1
    assert "passwd" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml", b"<ajax-response><response>", b"<html><body>404</body></html>", b"\xff\xfe<a/>"],
)
def test_garbage_is_a_remote_protocol_error(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_mxml(body)


def test_body_size_is_bounded() -> None:
    body = encode_mxml([[("Event", "X"), ("Data", "y" * 2000)]])
    assert parse_mxml(body, max_body_size=len(body))
    with pytest.raises(MessageTooLarge):
        parse_mxml(body, max_body_size=len(body) - 1)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(lambda t: f"<ajax-response>{t}</ajax-response>".encode()),
    )
)
def test_arbitrary_bodies_only_raise_protocol_errors(body: bytes) -> None:
    try:
        parse_mxml(body)
    except ProtocolError:
        pass
