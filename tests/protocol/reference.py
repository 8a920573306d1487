"""An independent, deliberately naive reading of AMI bytes, to check the real parsers against.

It knows only what the captures show: CRLF line ends, a blank line after each message, the key before
the first ``:``, then one optional space, then the value. No buffering, no cleverness.
"""

from __future__ import annotations

import html
import re

from tests.support.transcripts import Transcript, split_http_response

Headers = list[tuple[str, str]]


def read_block(block: bytes) -> Headers:
    """One message's ``Key: Value`` lines (without the terminating blank line)."""
    headers: Headers = []
    for line in block.decode("utf-8", "surrogateescape").split("\r\n"):
        assert ":" in line, f"capture line without a colon: {line!r}"
        key, value = line.split(":", 1)
        value = value.removeprefix(" ")
        headers.append((key, value))
    return headers


def read_chunk(data: bytes) -> Headers:
    """A TCP S>C chunk of the captures is exactly one message ending in a blank line."""
    assert data.endswith(b"\r\n\r\n"), data[-20:]
    return read_block(data[:-4])


def read_body(body: bytes) -> list[Headers]:
    """A rawman body: messages separated by blank lines."""
    return [read_block(block) for block in body.split(b"\r\n\r\n") if block]


def tcp_server_messages(transcript: Transcript) -> tuple[list[str], list[Headers]]:
    """Banner versions and messages the server sent, in order."""
    banners: list[str] = []
    messages: list[Headers] = []
    for chunk in transcript.of_kind("S>C"):
        if chunk.data.startswith(b"Asterisk Call Manager/"):
            banners.append(chunk.data.decode().removeprefix("Asterisk Call Manager/").rstrip("\r\n"))
        else:
            messages.append(read_chunk(chunk.data))
    return banners, messages


def http_bodies(transcript: Transcript, content_type: str) -> list[bytes]:
    """Bodies of the 200 responses of one content type (``text/plain``, ``text/xml``, ``text/html``)."""
    bodies = []
    for chunk in transcript.of_kind("S>C"):
        status, headers, body = split_http_response(chunk.data)
        if status == 200 and dict(headers).get("Content-type") == content_type and body:
            bodies.append(body)
    return bodies


_XML_ELEMENT = re.compile(r"<response type='object' id='[^']*'><generic((?: [^ =]+='[^']*')*) /></response>")
_XML_ATTRIBUTE = re.compile(r" ([^ =]+)='([^']*)'")
_HTML_ROW = re.compile(r'<tr><td>(.*?)</td><td>(.*?)</td></tr>\n|<tr><td colspan="2"><hr></td></tr>\r\n')
_COUNTER = re.compile(r"-\d+$")


def _undo_counters(headers: Headers) -> Headers:
    seen: set[str] = set()
    result: Headers = []
    for key, value in headers:
        base = _COUNTER.sub("", key)
        result.append((base if base in seen else key, value))
        seen.add(base if base in seen else key)
    return result


def read_mxml(body: bytes) -> list[Headers]:
    """Every ``<generic .../>`` element's attributes (names stay lower case), counters removed."""
    text = body.decode("utf-8", "surrogateescape")
    return [
        _undo_counters(
            [(name, html.unescape(value)) for name, value in _XML_ATTRIBUTE.findall(match.group(1))]
        )
        for match in _XML_ELEMENT.finditer(text)
    ]


def read_manager_html(body: bytes) -> list[Headers]:
    """Two-cell rows after the form preamble; each ``<hr>`` row ends a message."""
    text = body.decode("utf-8", "surrogateescape")
    text = text[text.index("</form>\n</td></tr>\r\n") :]
    messages: list[Headers] = []
    current: Headers = []
    for match in _HTML_ROW.finditer(text):
        if match.group(1) is None:
            messages.append(_undo_counters(current))
            current = []
        else:
            current.append((html.unescape(match.group(1)), html.unescape(match.group(2))))
    return messages


def lower_keys(messages: list[Headers]) -> list[Headers]:
    return [[(key.lower(), value) for key, value in headers] for headers in messages]
