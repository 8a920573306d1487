"""AJAM (manager over HTTP) rules that do not need a socket.

Asterisk publishes the manager under ``/<prefix>/<encoder>`` (prefix ``asterisk`` by default):
``rawman`` (plain key/value text), ``mxml`` (XML), ``manager`` (HTML); the ``a``-prefixed variants
(``arawman``, ``amxml``, ``amanager``) use HTTP Digest authentication instead of Login/cookie.
Every manager-level error is still HTTP 200; a 404 means nothing is published at that path.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ajam.protocol.message import Message


class Encoder(Enum):
    RAWMAN = "rawman"
    MXML = "mxml"
    MANAGER = "manager"

    @property
    def content_type(self) -> str:
        return {"rawman": "text/plain", "mxml": "text/xml", "manager": "text/html"}[self.value]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the manager lives on the HTTP server and how to talk to it."""

    prefix: str
    encoder: Encoder
    digest: bool

    @property
    def path(self) -> str:
        name = ("a" if self.digest else "") + self.encoder.value
        return f"{self.prefix.rstrip('/')}/{name}"


def endpoint_from_path(path: str) -> Endpoint:
    """Pick the encoder from a URL path exactly as Asterisk names it.

    ``/asterisk`` or ``/asterisk/rawman`` → rawman; ``/asterisk/mxml`` → mxml;
    ``/asterisk/manager`` → HTML; ``/asterisk/arawman``, ``/asterisk/amxml``, ``/asterisk/amanager``
    → the same with HTTP Digest. Any other last segment is taken as the prefix (rawman under it).
    """
    path = path.rstrip("/") or "/asterisk"
    head, _, last = path.rpartition("/")
    for digest, name in ((True, last[1:]), (False, last)):
        if digest and not last.startswith("a"):
            continue
        try:
            encoder = Encoder(name)
        except ValueError:
            continue
        return Endpoint(head or "/", encoder, digest)
    return Endpoint(path, Encoder.RAWMAN, False)


def parse_body(encoder: Encoder, body: bytes) -> list[Message]:
    """Messages in an AJAM response body, with the parser of that encoder."""
    if encoder is Encoder.RAWMAN:
        from ajam.protocol.stream import parse_messages

        return parse_messages(body)
    if encoder is Encoder.MXML:
        from ajam.protocol.mxml import parse_mxml

        return parse_mxml(body)
    from ajam.protocol.html import parse_manager_html

    return parse_manager_html(body)


NOT_PUBLISHED_ADVICE = (
    "the HTTP server answers but the manager is not published at {path}: set 'webenabled = yes' in "
    "manager.conf (section [general]) and 'enabled = yes' in http.conf, check the prefix "
    "('prefix = asterisk' gives /asterisk/rawman), then run 'manager reload' and 'module reload http'"
)


def diagnose_status(status: int, path: str) -> str | None:
    """A plain-words explanation of an HTTP status that is not a manager answer (``None`` if fine)."""
    if status == 200:
        return None
    if status == 404:
        return NOT_PUBLISHED_ADVICE.format(path=path)
    if status == 401:
        return "HTTP Digest authentication was refused: check the username and secret in manager.conf"
    if status == 501:
        return "the Asterisk HTTP server does not support this request method (use GET or POST)"
    if status == 400:
        return "the server answered 400 Bad Request: is this an HTTPS port reached with http://?"
    return f"unexpected HTTP status {status} from {path}"
