"""The ``mxml`` AJAM encoder: manager messages as XML attributes.

Asterisk writes each message as ``<response type='object' id='unknown'><generic name='value' ... />
</response>`` inside ``<ajax-response>`` (see :mod:`ajam.protocol.translate` for the exact rules).
Parsing undoes what can be undone: attribute names go back to the canonical AMI spelling
(:data:`ajam.protocol.headers.KNOWN_HEADERS`), ``output``, ``output-2``... back to repeated ``Output``
headers, ``opaque_data`` back to raw lines. The XML is read with defusedxml and any DTD is refused,
so entity expansion or external entities end in :class:`RemoteProtocolError`, never a hang.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from ajam.errors import MessageTooLarge, RemoteProtocolError
from ajam.protocol.headers import KNOWN_HEADERS
from ajam.protocol.message import Message, make_message
from ajam.protocol.translate import (
    OPAQUE_DATA,
    XML_DOCUMENT_END,
    XML_DOCUMENT_START,
    message_from_rows,
    rawman_text,
    translate,
    xml_attribute_name,
)

DEFAULT_MAX_BODY_SIZE = 16 * 1024 * 1024

_CANONICAL = {xml_attribute_name(header): header for header in KNOWN_HEADERS}
_OPAQUE_ATTRIBUTE = xml_attribute_name(OPAQUE_DATA)
# Characters XML cannot carry (invalid UTF-8 kept as surrogate escapes, C0 controls) are parked for the
# XML parser as an escape character plus a private-use character, and restored afterwards, so values stay
# equal to the rawman parse. The escape character (a noncharacter) is itself doubled to stay lossless.
_PARK_ESCAPE = "\U0010ffff"
_PARK_BASE = 0x10FE00
_UNXMLABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\udc80-\udcff\U0010ffff]")
_PARKED = re.compile("\U0010ffff(.)", re.DOTALL)
# Start tags are rewritten before parsing, for two things XML would not let through as Asterisk wrote them:
# TAB/LF/CR inside values (XML normalises them to spaces; opaque data has them) become character
# references, and a repeated attribute name (Asterisk counts ``Uniqueid`` and ``UniqueID`` apart, then
# lowercases both) gets a ``.dup`` suffix, which no Asterisk name can contain since ``.`` becomes ``_``.
_START_TAG = re.compile(r"<[A-Za-z_][^<>]*>")
_ATTRIBUTE = re.compile(r"""(\s+)([^\s=<>/]+)(\s*=\s*)('[^']*'|"[^"]*")""")
_WHITESPACE_REFS = str.maketrans({"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})
_DUPLICATE = ".dup"


def encode_mxml(
    messages: Iterable[Iterable[tuple[str, str]]], *, dest: str = "unknown", objtype: str = "generic"
) -> bytes:
    """The complete ``mxml`` body Asterisk sends for these messages (``ajaxdest``/``ajaxobjtype``)."""
    body = translate(rawman_text(messages), xml=True, dest=dest.encode(), objtype=objtype.encode())
    return XML_DOCUMENT_START + body + XML_DOCUMENT_END


def parse_mxml(body: bytes, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> list[Message]:
    """Messages of an ``mxml`` body, header for header as the rawman body would give them."""
    if len(body) > max_body_size:
        raise MessageTooLarge(f"mxml body of {len(body)} bytes exceeds the limit of {max_body_size}")
    text = _UNXMLABLE.sub(_park, body.decode("utf-8", "surrogateescape"))
    text = _START_TAG.sub(_prepare_start_tag, text)
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RemoteProtocolError(
            f"mxml body refused: {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from None
    except ParseError as exc:
        raise RemoteProtocolError(f"mxml body is not well-formed XML: {exc}") from None
    if root.tag != "ajax-response":
        raise RemoteProtocolError(f"mxml body has root element <{root.tag}>, expected <ajax-response>")
    messages: list[Message] = []
    for response in root:
        for element in response:
            messages.append(_message(element.attrib))
    return messages


def _message(attributes: dict[str, str]) -> Message:
    rows = []
    for name, value in attributes.items():
        if _PARK_ESCAPE in value:
            value = _PARKED.sub(_unpark, value)
        rows.append((name.split(_DUPLICATE, 1)[0], value))
    message = message_from_rows(rows, opaque_name=_OPAQUE_ATTRIBUTE)
    return make_message(
        [(_CANONICAL.get(name, name), value) for name, value in message.headers], message.lines
    )


def _prepare_start_tag(tag: re.Match[str]) -> str:
    names: set[str] = set()

    def attribute(match: re.Match[str]) -> str:
        space, name, equals, value = match.groups()
        unique = name
        while unique in names:
            unique += _DUPLICATE
        names.add(unique)
        return space + unique + equals + value.translate(_WHITESPACE_REFS)

    return _ATTRIBUTE.sub(attribute, tag.group())


def _park(match: re.Match[str]) -> str:
    char = match.group()
    if char == _PARK_ESCAPE:
        return _PARK_ESCAPE + _PARK_ESCAPE
    return _PARK_ESCAPE + chr(_PARK_BASE + (ord(char) & 0xFF))


def _unpark(match: re.Match[str]) -> str:
    char = match.group(1)
    if char == _PARK_ESCAPE:
        return char
    byte = ord(char) - _PARK_BASE
    if not 0 <= byte <= 0xFF:
        return match.group()
    return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)
