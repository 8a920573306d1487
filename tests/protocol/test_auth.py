"""Login rules: the MD5 challenge key of ami_04 and the AJAM session cookie as captured."""

from __future__ import annotations

from ajam.protocol.auth import (
    SessionCookie,
    challenge_key,
    challenge_login_headers,
    login_headers,
)
from ajam.protocol.encode import encode_action
from tests.protocol.reference import read_chunk, tcp_server_messages
from tests.support.transcripts import SHARED, load, require_shared, split_http_response


def test_challenge_key_matches_ami_04() -> None:
    require_shared()
    transcript = load(SHARED / "transcripts" / "ami_04_challenge_md5_login.txt")
    _, messages = tcp_server_messages(transcript)
    challenge = dict(messages[0])["Challenge"]
    login_chunk = transcript.of_kind("C>S")[1].data
    key = dict(read_chunk(login_chunk))["Key"]
    assert challenge == "513766598"
    assert challenge_key(challenge, "s3cret") == key == "2ab984b3bd32073d9ced72ed46dcc4c2"
    headers = challenge_login_headers("admin", challenge, "s3cret") + [("ActionID", "login-md5")]
    assert encode_action("Login", headers) == login_chunk


def test_login_headers() -> None:
    assert login_headers("admin", "s3cret") == [("Username", "admin"), ("Secret", "s3cret")]
    assert login_headers("admin", "s3cret", events="off")[-1] == ("Events", "off")
    assert challenge_login_headers("a", "1", "b", events="on")[-1] == ("Events", "on")


def test_session_cookie_parse_and_format_exactly_as_captured() -> None:
    require_shared()
    transcript = load(SHARED / "transcripts" / "http_01_rawman_login_success.txt")
    _, headers, _ = split_http_response(transcript.of_kind("S>C")[0].data)
    set_cookie = dict(headers)["Set-Cookie"]
    assert set_cookie == 'mansession_id="973d1e89"; Version=1; Max-Age=60'
    cookie = SessionCookie.from_set_cookie(set_cookie)
    assert cookie == SessionCookie("973d1e89", 60)
    assert cookie is not None and cookie.set_cookie_header() == set_cookie
    assert cookie.request_header() == 'mansession_id="973d1e89"'


def test_cookie_sent_back_by_the_capture_client_is_understood() -> None:
    require_shared()
    transcript = load(SHARED / "transcripts" / "http_03_rawman_ping.txt")
    request = transcript.of_kind("C>S")[1].data.decode()
    cookie_line = next(line for line in request.split("\r\n") if line.startswith("Cookie: "))
    assert SessionCookie.from_cookie_header(cookie_line.removeprefix("Cookie: ")) is not None


def test_cookie_variants() -> None:
    assert SessionCookie.from_set_cookie("other=1") is None
    assert SessionCookie.from_set_cookie("mansession_id=abc") == SessionCookie("abc", None)
    assert SessionCookie.from_cookie_header('a=b; mansession_id="0f"') == SessionCookie("0f")
    assert SessionCookie.from_cookie_header("a=b") is None
    assert SessionCookie("1").set_cookie_header() == 'mansession_id="1"; Version=1'
