"""The incremental AMI parser against every capture, in every split, and against hostile input."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ajam.errors import MessageTooLarge, ProtocolError, RemoteProtocolError
from ajam.protocol.message import Event, Message, Response
from ajam.protocol.stream import (
    MAX_BANNER_SIZE,
    Banner,
    StreamParser,
    parse_block,
    parse_messages,
    split_header,
)
from tests.protocol.reference import Headers, http_bodies, read_body, tcp_server_messages
from tests.support.transcripts import load, transcript_params, transcript_paths

TCP_PATHS = [path for path in transcript_paths() if not path.stem.startswith("http_")]
HTTP_PATHS = [path for path in transcript_paths() if path.stem.startswith("http_")]


def drain(parser: StreamParser) -> list[Message | Banner]:
    return list(parser)


def feed(chunks: list[bytes], **options: int | bool) -> tuple[list[Banner], list[Message]]:
    """Feed chunks one by one, collecting everything; EOF at the end."""
    parser = StreamParser(**options)  # type: ignore[arg-type]
    items: list[Message | Banner] = []
    for chunk in chunks:
        parser.receive_data(chunk)
        items.extend(parser)
    parser.receive_eof()
    items.extend(parser)
    assert parser.buffered == 0
    return [i for i in items if isinstance(i, Banner)], [i for i in items if isinstance(i, Message)]


def headers_of(messages: list[Message]) -> list[Headers]:
    return [list(message.headers) for message in messages]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# --- every server message of every capture -------------------------------------------------------


@pytest.mark.parametrize("path", transcript_params("ami_*.txt") + transcript_params("sip_*.txt"))
def test_tcp_capture_parses_to_the_reference_headers(path: Path) -> None:
    transcript = load(path)
    banners, expected = tcp_server_messages(transcript)
    chunks = [chunk.data for chunk in transcript.of_kind("S>C")]
    for split in (chunks, [b"".join(chunks)]):
        got_banners, messages = feed(split)
        assert [banner.version for banner in got_banners] == banners
        assert headers_of(messages) == expected
        assert all(message.lines == () for message in messages)


@pytest.mark.parametrize("path", transcript_params("ami_*.txt") + transcript_params("sip_*.txt"))
def test_tcp_capture_fed_one_byte_at_a_time(path: Path) -> None:
    transcript = load(path)
    banners, expected = tcp_server_messages(transcript)
    data = transcript.server_bytes()
    got_banners, messages = feed([data[i : i + 1] for i in range(len(data))])
    assert [banner.version for banner in got_banners] == banners
    assert headers_of(messages) == expected


@pytest.mark.parametrize("path", transcript_params("http_*.txt"))
def test_rawman_bodies_parse_to_the_reference_headers(path: Path) -> None:
    for body in http_bodies(load(path), "text/plain"):
        assert headers_of(parse_messages(body)) == read_body(body)
        _, streamed = feed([body[i : i + 1] for i in range(len(body))], expect_banner=False)
        assert headers_of(streamed) == read_body(body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0), cuts=st.lists(st.integers(min_value=0), max_size=60))
def test_tcp_capture_in_arbitrary_splits(index: int, cuts: list[int]) -> None:
    if not TCP_PATHS:
        pytest.skip("no captures")
    transcript = load(TCP_PATHS[index % len(TCP_PATHS)])
    banners, expected = tcp_server_messages(transcript)
    got_banners, messages = feed(split_at(transcript.server_bytes(), cuts))
    assert [banner.version for banner in got_banners] == banners
    assert headers_of(messages) == expected


def test_messages_get_their_type_from_the_first_header() -> None:
    _, messages = feed(
        [b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n\r\nEvent: FullyBooted\r\n\r\n"]
    )
    assert isinstance(messages[0], Response) and isinstance(messages[1], Event)


# --- edge cases ---------------------------------------------------------------------------------

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def test_banner_split_across_reads() -> None:
    banners, messages = feed([b"Aster", b"isk Call Manager/11.", b"0.0\r", b"\nResponse: Success\r\n\r\n"])
    assert banners == [Banner("11.0.0")]
    assert headers_of(messages) == [[("Response", "Success")]]
    assert Banner("11.0.0").encode() == BANNER


def test_stray_newlines_between_messages_are_skipped() -> None:
    data = BANNER + b"Event: A\r\n\r\n\n\r\nEvent: B\r\n\r\n\nEvent: C\r\n\r\n"
    _, messages = feed([data])
    assert headers_of(messages) == [[("Event", "A")], [("Event", "B")], [("Event", "C")]]


def test_bare_lf_line_endings() -> None:
    _, messages = feed([BANNER + b"Event: A\nKey: v\n\nEvent: B\n\n"])
    assert headers_of(messages) == [[("Event", "A"), ("Key", "v")], [("Event", "B")]]


def test_utf8_character_split_across_reads() -> None:
    data = BANNER + "Event: Newchannel\r\nCallerIDName: Мария Иванова\r\n\r\n".encode()
    middle = data.index("Мария".encode()) + 1  # inside the two bytes of "М"
    for cut in range(len(BANNER), len(data)):
        _, messages = feed([data[:cut], data[cut:]])
        assert messages[0]["CallerIDName"] == "Мария Иванова"
    _, messages = feed([data[:middle], data[middle:]])
    assert messages[0]["CallerIDName"] == "Мария Иванова"


def test_invalid_utf8_is_kept_and_the_message_still_delivered() -> None:
    _, messages = feed([BANNER + b"Event: X\r\nName: caf\xe9 \xff\r\n\r\nEvent: Y\r\n\r\n"])
    assert [m["Event"] for m in messages] == ["X", "Y"]
    value = messages[0]["Name"]
    assert value.encode("utf-8", "surrogateescape") == b"caf\xe9 \xff"


def test_values_with_colons_and_empty_values() -> None:
    message = parse_block(b"Event: X\r\nAppData: Local/a@b: c: d\r\nEmpty:\r\nSpaced: \r\nTwo:  x")
    assert message.headers == (
        ("Event", "X"),
        ("AppData", "Local/a@b: c: d"),
        ("Empty", ""),
        ("Spaced", ""),
        ("Two", " x"),
    )
    assert split_header("no colon") is None


def test_colon_less_lines_are_kept_in_lines() -> None:
    message = parse_block(b"Response: Success\r\nsome raw text\r\nKey: v\r\nmore")
    assert message.headers == (("Response", "Success"), ("Key", "v"))
    assert message.lines == ("some raw text", "more")


LEGACY_OUTPUT = (
    [f"line {n}" for n in range(1, 8)] + ["", "after a blank line"] + [f"tail {n}" for n in range(1, 6)]
)


def test_legacy_response_follows_with_blank_lines_and_glued_marker() -> None:
    body = "\r\n".join(LEGACY_OUTPUT[:-1] + [LEGACY_OUTPUT[-1] + "--END COMMAND--"]).encode()
    data = (
        BANNER
        + b"Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-1\r\n"
        + body
        + b"\r\n\r\nEvent: After\r\n\r\n"
    )
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))], split_at(data, [40, 77, 150, 151])):
        _, messages = feed(chunks)
        follows, after = messages
        assert follows.headers == (("Response", "Follows"), ("Privilege", "Command"), ("ActionID", "cmd-1"))
        assert list(follows.lines) == LEGACY_OUTPUT
        assert len(follows.lines) >= 14
        assert after.headers == (("Event", "After"),)


def test_legacy_marker_on_its_own_line() -> None:
    data = b"Response: Follows\r\nPrivilege: Command\r\nout 1\r\n\r\nout 2\r\n--END COMMAND--\r\n\r\n"
    (message,) = parse_messages(data)
    assert list(message.lines) == ["out 1", "", "out 2"]


def test_oversized_message_raises_then_resyncs_at_the_next_blank_line() -> None:
    parser = StreamParser(max_message_size=100)
    parser.receive_data(BANNER)
    assert drain(parser) == [Banner("11.0.0")]
    parser.receive_data(b"Event: Big\r\n" + b"X: " + b"y" * 300)
    with pytest.raises(MessageTooLarge):
        drain(parser)
    assert parser.buffered <= 100
    parser.receive_data(b"y" * 50 + b"\r\n\r\nEvent: Small\r\n\r\n")
    assert headers_of([m for m in drain(parser) if isinstance(m, Message)]) == [[("Event", "Small")]]
    assert parser.skipped_messages == 1


def test_complete_oversized_message_is_skipped() -> None:
    parser = StreamParser(expect_banner=False, max_message_size=50)
    parser.receive_data(b"Event: Big\r\nX: " + b"y" * 80 + b"\r\n\r\nEvent: Next\r\n\r\n")
    with pytest.raises(MessageTooLarge):
        drain(parser)
    assert [m.headers for m in drain(parser) if isinstance(m, Message)] == [(("Event", "Next"),)]


def test_memory_stays_bounded_when_a_message_never_ends() -> None:
    limit, chunk = 4096, 1000
    parser = StreamParser(expect_banner=False, max_message_size=limit)
    parser.receive_data(b"Event: Endless\r\n")
    errors = 0
    for _ in range(500):
        parser.receive_data(b"K: " + b"v" * (chunk - 5) + b"\r\n")
        try:
            drain(parser)
        except MessageTooLarge:
            errors += 1
        assert parser.buffered <= limit + chunk
    assert errors == 1
    parser.receive_data(b"\r\nEvent: Back\r\n\r\n")
    assert [m.headers for m in drain(parser) if isinstance(m, Message)] == [(("Event", "Back"),)]


@pytest.mark.parametrize(
    ("greeting", "hint"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nServer: Asterisk\r\n\r\n", "http://"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00", "TLS"),
        (b"\x15\x03\x03\x00\x02\x02\x28", "TLS"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "AMI banner"),
    ],
)
def test_non_ami_peer_gives_a_clear_error(greeting: bytes, hint: str) -> None:
    parser = StreamParser()
    parser.receive_data(greeting)
    parser.receive_eof()
    with pytest.raises(RemoteProtocolError, match=hint):
        drain(parser)


def test_endless_banner_line_is_refused() -> None:
    parser = StreamParser()
    parser.receive_data(b"A" * 5000)
    with pytest.raises(RemoteProtocolError):
        drain(parser)


def test_eof_flushes_a_final_message_without_blank_line() -> None:
    parser = StreamParser()
    parser.receive_data(BANNER + b"Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n")
    assert drain(parser) == [Banner("11.0.0")]
    parser.receive_eof()
    (message,) = drain(parser)
    assert isinstance(message, Response) and message.message == "Thanks for all the fish."
    assert drain(parser) == []


def test_eof_with_only_newlines_gives_nothing() -> None:
    assert parse_messages(b"\r\n\r\n\n") == []


_AMI_LIKE_TEXT = st.lists(
    st.sampled_from(
        [
            b"\r\n",
            b"\r\n\r\n",
            b"\r",
            b"\n",
            b":",
            b": ",
            b"Event",
            b"Response",
            b"Action",
            b"ActionID",
            b"Response: Follows\r\n",
            b"--END COMMAND--",
            b"x",
            b" ",
            b"\xd0\x9c",
            b"\xd0",
            b"ollows",
        ]
    ),
    max_size=80,
).map(b"".join)


class MessageByMessageParser(StreamParser):
    """The parser with its many-messages-at-once fast path switched off."""

    def _take_plain_messages(self) -> bool:
        return False


def _same_messages_both_paths(data: bytes, cuts: list[int]) -> None:
    def run(parser: StreamParser) -> list[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]]:
        out = []
        for chunk in split_at(data, cuts):
            parser.receive_data(chunk)
            out += [(type(m).__name__, m.headers, m.lines) for m in parser if isinstance(m, Message)]
        parser.receive_eof()
        out += [(type(m).__name__, m.headers, m.lines) for m in parser if isinstance(m, Message)]
        return out

    assert run(StreamParser(expect_banner=False)) == run(MessageByMessageParser(expect_banner=False))


@settings(max_examples=300, deadline=None)
@given(data=_AMI_LIKE_TEXT, cuts=st.lists(st.integers(0), max_size=10))
def test_fast_path_gives_the_same_messages_as_the_message_by_message_path(
    data: bytes, cuts: list[int]
) -> None:
    _same_messages_both_paths(data, cuts)


@pytest.mark.slow
@settings(max_examples=10000, deadline=None)
@given(data=_AMI_LIKE_TEXT, cuts=st.lists(st.integers(0), max_size=30))
def test_fast_path_equivalence_long_run(data: bytes, cuts: list[int]) -> None:
    _same_messages_both_paths(data, cuts)


def test_fast_path_equivalence_on_the_captures() -> None:
    data = b"".join(load(path).server_bytes().removeprefix(BANNER) for path in TCP_PATHS[:8])
    for size in (1, 7, 4096):
        _same_messages_both_paths(data, list(range(0, len(data), size)) if size > 1 else [len(data) // 2])


# --- fuzzing ------------------------------------------------------------------------------------


def _fuzz(data: bytes, cuts: list[int], limit: int, banner: bool) -> None:
    parser = StreamParser(expect_banner=banner, max_message_size=limit)
    largest_chunk = 0
    for chunk in split_at(data, cuts):
        largest_chunk = max(largest_chunk, len(chunk))
        parser.receive_data(chunk)
        try:
            for item in parser:
                assert isinstance(item, (Message, Banner))
        except ProtocolError:
            if banner and parser._expect_banner:
                return
        assert parser.buffered <= max(limit, MAX_BANNER_SIZE) + largest_chunk + 2
    parser.receive_eof()
    try:
        drain(parser)
    except ProtocolError:
        pass


_AMI_ALPHABET = st.sampled_from(
    [
        b"\r",
        b"\n",
        b":",
        b" ",
        b"Event",
        b"Response: Follows\r\n",
        b"--END COMMAND--",
        b"\xd0",
        b"\x9c",
        b"\xff",
        b"x",
        b"Asterisk Call Manager/1\r\n",
    ]
)
_AMI_LIKE = st.lists(_AMI_ALPHABET, max_size=200).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=2000), _AMI_LIKE),
    cuts=st.lists(st.integers(0), max_size=20),
    limit=st.integers(16, 512),
    banner=st.booleans(),
)
def test_arbitrary_bytes_only_raise_protocol_errors_and_stay_bounded(
    data: bytes, cuts: list[int], limit: int, banner: bool
) -> None:
    _fuzz(data, cuts, limit, banner)


@pytest.mark.slow
@settings(max_examples=5000, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=20000), _AMI_LIKE),
    cuts=st.lists(st.integers(0), max_size=200),
    limit=st.integers(16, 4096),
    banner=st.booleans(),
)
def test_arbitrary_bytes_long_run(data: bytes, cuts: list[int], limit: int, banner: bool) -> None:
    _fuzz(data, cuts, limit, banner)
