"""Action encoding: byte-exact against the captured client bytes, and the injection guard."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, unquote_plus

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ajam.errors import HeaderInjection, LocalProtocolError
from ajam.protocol.encode import (
    action_pairs,
    check_header,
    encode_action,
    encode_message,
    normalize_headers,
    query_pairs,
    redact,
)
from ajam.protocol.stream import parse_messages
from tests.protocol.reference import read_chunk
from tests.support.transcripts import load, transcript_params


@pytest.mark.parametrize("path", transcript_params("ami_*.txt") + transcript_params("sip_*.txt"))
def test_client_chunks_are_reproduced_byte_for_byte(path: Path) -> None:
    for chunk in load(path).of_kind("C>S"):
        headers = read_chunk(chunk.data)
        if headers[0][0] == "Action":
            assert encode_action(headers[0][1], headers[1:]) == chunk.data
        else:  # ami_11 sends a message without any Action header on purpose
            assert encode_message(headers) == chunk.data


def _captured_query(target: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = target.partition("?")
    pairs = [(unquote(k), unquote(v)) for k, v in (item.split("=", 1) for item in query.split("&"))]
    return path, pairs


@pytest.mark.parametrize("path", transcript_params("http_*.txt"))
def test_http_query_strings_match_the_captured_request_targets(path: Path) -> None:
    for chunk in load(path).of_kind("C>S"):
        _method, target, _ = chunk.data.split(b"\r\n", 1)[0].decode().split(" ")
        if "?action=" not in target:
            continue
        url_path, pairs = _captured_query(target)
        assert pairs[0][0] == "action"
        built = query_pairs(pairs[0][1], pairs[1:])
        assert built == pairs
        raw = httpx.URL(url_path, params=built).raw_path.decode()
        if "%20" in target:
            # The capture client wrote spaces as %20, httpx writes "+"; Asterisk decodes both to a space.
            assert unquote_plus(raw) == unquote(target)
        else:
            assert raw == target


def test_repeated_keys_are_preserved_in_order() -> None:
    data = encode_action("Originate", [("Channel", "Local/a@b"), ("Variable", "A=1"), ("Variable", "B=2")])
    assert data == b"Action: Originate\r\nChannel: Local/a@b\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
    assert encode_action("Originate", {"Variable": ["A=1", "B=2"], "Priority": 1}) == (
        b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\nPriority: 1\r\n\r\n"
    )
    (parsed,) = parse_messages(data)
    assert parsed.getall("Variable") == ["A=1", "B=2"]
    assert query_pairs("Originate", {"Variable": ["A=1", "B=2"]}) == [
        ("action", "Originate"),
        ("Variable", "A=1"),
        ("Variable", "B=2"),
    ]


def test_utf8_values_are_encoded_as_utf8() -> None:
    assert encode_action("Originate", {"CallerID": '"Мария Иванова" <79161234567>'}) == (
        'Action: Originate\r\nCallerID: "Мария Иванова" <79161234567>\r\n\r\n'.encode()
    )


def test_a_second_action_header_in_the_headers_is_dropped() -> None:
    assert action_pairs("Ping", [("Action", "Command"), ("ActionID", "1")]) == [
        ("Action", "Ping"),
        ("ActionID", "1"),
    ]


BAD_CHARS = ["\r", "\n", "\0", "\r\n"]


@pytest.mark.parametrize("bad", BAD_CHARS)
def test_injection_in_a_value_is_refused(bad: str) -> None:
    with pytest.raises(HeaderInjection):
        encode_action("Ping", {"ActionID": f"x{bad}Action: Command"})
    with pytest.raises(HeaderInjection):
        query_pairs("Ping", {"ActionID": f"x{bad}Action: Command"})


@pytest.mark.parametrize("bad", BAD_CHARS)
def test_injection_in_a_key_is_refused(bad: str) -> None:
    for key in (f"Key{bad}", f"{bad}Key", f"K{bad}ey"):
        with pytest.raises(HeaderInjection):
            encode_action("Ping", [(key, "v")])
        with pytest.raises(HeaderInjection):
            query_pairs("Ping", [(key, "v")])


@pytest.mark.parametrize("bad", BAD_CHARS)
def test_injection_in_the_action_name_is_refused(bad: str) -> None:
    with pytest.raises(HeaderInjection):
        encode_action(f"Ping{bad}Action: Command")
    with pytest.raises(HeaderInjection):
        query_pairs(f"Ping{bad}Command: core stop now")


@pytest.mark.parametrize("key", ["Secret", "secret", "Key", "KEY", "Password"])
def test_injection_error_never_shows_a_secret(key: str) -> None:
    secret = "hunter2-very-secret"
    with pytest.raises(HeaderInjection) as caught:
        encode_action("Login", [("Username", "admin"), (key, f"{secret}\r\nAction: Command")])
    assert secret not in str(caught.value)
    assert "hunter2" not in repr(caught.value)


def test_injection_error_shows_other_values_for_debugging() -> None:
    with pytest.raises(HeaderInjection, match="LF"):
        encode_action("Ping", {"ActionID": "abc\n"})


@pytest.mark.parametrize("key", ["", " Lead", "Trail ", "Co:lon"])
def test_malformed_header_names_are_refused(key: str) -> None:
    with pytest.raises(LocalProtocolError):
        check_header(key, "v")


def test_empty_action_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        encode_action("")


def test_redact_hides_secrets_and_keys() -> None:
    pairs = [("Action", "Login"), ("Username", "admin"), ("Secret", "s3cret"), ("Key", "2ab9")]
    assert redact(pairs) == [("Action", "Login"), ("Username", "admin"), ("Secret", "***"), ("Key", "***")]


def test_normalize_accepts_none_mappings_and_pairs() -> None:
    assert normalize_headers(None) == []
    assert normalize_headers({"A": 1, "B": ("x", "y")}) == [("A", "1"), ("B", "x"), ("B", "y")]


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(key=st.text(min_size=1, max_size=20), value=_TEXT)
def test_encoded_actions_never_contain_a_stray_line_break(key: str, value: str) -> None:
    assume(key.lower() != "action")  # a second Action header is dropped on purpose (tested above)
    try:
        data = encode_action("Test", [(key, value)])
    except LocalProtocolError:
        assert any(c in key + value for c in "\r\n\0") or ":" in key or key != key.strip()
        return
    assert (
        data.count(b"\r\n") == 3
        and data.endswith(b"\r\n\r\n")
        and b"\n" not in data[:-4].replace(b"\r\n", b"")
    )
    (message,) = parse_messages(data)
    assert message.headers[1][0] == key
