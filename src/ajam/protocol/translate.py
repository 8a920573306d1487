"""Asterisk's own conversion of manager output to XML (``mxml``) and HTML (``manager``).

A port of ``xml_translate`` and ``xml_copy_escape`` in Asterisk's ``main/manager.c``, byte for byte,
so that the simulated PBX answers exactly like the real one and the parsers know what to undo:

* The input is the rawman text of the messages. It is cut into lines at ``\\r`` or ``\\n`` (a ``\\n``
  right after the cut is skipped, so CRLF is one line end); trailing bytes below 33 are trimmed.
* A blank line closes the current message: ``' /></response>'`` in XML, an ``<hr>`` row in HTML.
* ``Name: value`` lines: the name loses trailing blanks, the value loses *all* leading blanks.
  A name repeated within one message gets ``-2``, ``-3``... appended (counted case-sensitively).
* In XML the attribute name is lowercased and every byte that is not an ASCII letter or digit becomes
  ``_`` (a leading digit gets a ``_`` in front); in HTML the name is only escaped.
* Values (and HTML names) escape ``< > " ' &`` as ``&lt; &gt; &quot; &apos; &amp;``; nothing else
  (newlines and control bytes are never escaped: they cannot occur inside a line anyway).
* A line without a colon switches to "opaque" mode: it and every following line up to the next blank
  line become one ``Opaque-data`` value, joined by ``\\n`` (XML) or ``<br>\\n`` (HTML).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ajam.protocol.encode import encode_message
from ajam.protocol.message import Message, make_message

OPAQUE_DATA = "Opaque-data"
XML_DOCUMENT_START = b"<ajax-response>\n"
XML_DOCUMENT_END = b"</ajax-response>\n"
HTML_DOCUMENT_START = (
    b'<title>Asterisk&trade; Manager Interface</title><body bgcolor="#ffffff">'
    b'<table align=center bgcolor="#f1f1f1" width="500">\r\n'
    b'<tr><td colspan="2" bgcolor="#f1f1ff"><h1>Manager Tester</h1></td></tr>\r\n'
    b'<tr><td colspan="2" bgcolor="#f1f1ff"><form action="manager" method="post">\n'
    b'\tAction: <select name="action">\n'
    b'\t\t<option value="">-----&gt;</option>\n'
    b'\t\t<option value="login">login</option>\n'
    b'\t\t<option value="command">Command</option>\n'
    b'\t\t<option value="waitevent">waitevent</option>\n'
    b'\t\t<option value="listcommands">listcommands</option>\n'
    b"\t</select>\n"
    b'\tor <input name="action"><br/>\n'
    b'\tCLI Command <input name="command"><br>\n'
    b'\tuser <input name="username"> pass <input type="password" name="secret"><br>\n'
    b'\t<input type="submit">\n'
    b"</form>\n"
    b"</td></tr>\r\n"
)
HTML_DOCUMENT_END = b"</table></body>\r\n"
HTML_SEPARATOR = b'<tr><td colspan="2"><hr></td></tr>\r\n'

_ESCAPES = {
    ord("<"): b"&lt;",
    ord(">"): b"&gt;",
    ord('"'): b"&quot;",
    ord("'"): b"&apos;",
    ord("&"): b"&amp;",
}
_BYTE_ESCAPES = [_ESCAPES.get(code, bytes((code,))) for code in range(256)]
_NAME_BYTES = [bytes((code,)).lower() if bytes((code,)).isalnum() else b"_" for code in range(256)]


def escape_value(raw: bytes) -> bytes:
    """``xml_copy_escape(mode 0)``: the five markup characters become entities, the rest is kept."""
    if not any(code in raw for code in b"<>\"'&"):
        return raw
    return b"".join(_BYTE_ESCAPES[code] for code in raw)


def xml_name(raw: bytes) -> bytes:
    """``xml_copy_escape(mode 1|2)``: a lowercased XML attribute name made of ``[a-z0-9_]``."""
    name = b"".join(_NAME_BYTES[code] for code in raw)
    if raw[:1].isdigit():
        name = b"_" + raw[:1] + name[1:]
    return name


def xml_attribute_name(header: str) -> str:
    """The mxml attribute name Asterisk gives to ``header`` (e.g. ``Cause-txt`` → ``cause_txt``)."""
    return xml_name(header.encode("utf-8", "surrogateescape")).decode("ascii")


def _cut_lines(text: bytes) -> list[bytes]:
    """``strsep(&in, "\\r\\n")`` plus "skip one following LF", until the end (or a NUL) of the text."""
    end = text.find(b"\0")
    if end >= 0:
        text = text[:end]
    lines: list[bytes] = []
    pos = 0
    size = len(text)
    while pos < size:
        cut = pos
        while cut < size and text[cut] not in (10, 13):
            cut += 1
        lines.append(text[pos:cut])
        if cut >= size:
            break
        pos = cut + 1
        if pos < size and text[pos] == 10:
            pos += 1
    return lines


def _trim_blanks(raw: bytes) -> bytes:
    end = len(raw)
    while end and raw[end - 1] < 33:
        end -= 1
    return raw[:end]


def _skip_blanks(raw: bytes) -> bytes:
    start = 0
    while start < len(raw) and raw[start] < 33:
        start += 1
    return raw[start:]


def translate(text: bytes, *, xml: bool, dest: bytes = b"unknown", objtype: bytes = b"generic") -> bytes:
    """``xml_translate``: rawman text in, the XML ``<response>`` elements or HTML rows out."""
    out: list[bytes] = []
    in_object = False
    in_data = False
    counts: dict[bytes, int] = {}
    for line in _cut_lines(text):
        value = _trim_blanks(line)
        if not value:
            if in_data:
                out.append(b"'" if xml else b"</td></tr>\n")
                in_data = False
            if in_object:
                out.append(b" /></response>\n" if xml else HTML_SEPARATOR)
                in_object = False
            continue
        if not in_object:
            if xml:
                out.append(b"<response type='object' id='" + dest + b"'><" + objtype)
            counts = {}
            in_object = True
        if in_data:
            out.append(b"\n" if xml else b"<br>\n")
            out.append(escape_value(value))
            continue
        name, colon, rest = value.partition(b":")
        if colon:
            name = _trim_blanks(name)
            value = _skip_blanks(rest)
        else:
            name = OPAQUE_DATA.encode("ascii")
            in_data = True
        count = counts.get(name, 0) + 1
        counts[name] = count
        out.append(b" " if xml else b"<tr><td>")
        out.append(xml_name(name) if xml else escape_value(name))
        if count > 1:
            out.append(b"-%d" % count)
        out.append(b"='" if xml else b"</td><td>")
        out.append(escape_value(value))
        if not in_data:
            out.append(b"'" if xml else b"</td></tr>\n")
    if in_data:
        out.append(b"'" if xml else b"</td></tr>\n")
    if in_object:
        out.append(b" /></response>\n" if xml else HTML_SEPARATOR)
    return b"".join(out)


def rawman_text(messages: Iterable[Iterable[tuple[str, str]]]) -> bytes:
    """What Asterisk writes to the HTTP session before translating it: each message and a blank line."""
    return b"".join(encode_message(message) for message in messages)


_REPEATED = re.compile(r"(.+)-(\d+)")


def message_from_rows(rows: Iterable[tuple[str, str]], *, opaque_name: str = OPAQUE_DATA) -> Message:
    """Undo the translation of one message: ``name-2``, ``name-3``… after ``name`` become repeats of
    ``name`` again, and the opaque-data row becomes the message's colon-less lines."""
    headers: list[tuple[str, str]] = []
    lines: list[str] = []
    seen: set[str] = set()
    for name, value in rows:
        repeated = _REPEATED.fullmatch(name)
        if repeated is not None and repeated.group(1) in seen:
            name = repeated.group(1)
        seen.add(name)
        if name == opaque_name:
            lines.extend(value.split("\n"))
        else:
            headers.append((name, value))
    return make_message(headers, lines)
