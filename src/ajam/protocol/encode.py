"""Encoding actions for the wire: TCP lines and HTTP query parameters.

The injection guard lives here and only here: a CR, LF or NUL in any key or value would end the
current header (or the whole action) early and let the rest of the value be read as a second action,
for instance a ``Command`` — so such input is refused before a single byte is produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ajam.errors import HeaderInjection, LocalProtocolError

HeaderInput = Mapping[str, "str | int | Sequence[str]"] | Iterable[tuple[str, "str | int"]]

_FORBIDDEN = ("\r", "\n", "\0")
_CHAR_NAMES = {"\r": "CR", "\n": "LF", "\0": "NUL"}
_SECRET_KEYS = frozenset({"secret", "key", "password"})


def normalize_headers(headers: HeaderInput | None) -> list[tuple[str, str]]:
    """Turn a mapping (list values mean a repeated key) or a pair list into checked ``(key, value)`` pairs."""
    if headers is None:
        return []
    pairs: list[tuple[str, str]] = []
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if isinstance(value, (list, tuple)):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, value if isinstance(value, str) else str(value)))
    for key, value in pairs:
        check_header(key, value)
    return pairs


def check_header(key: str, value: str) -> None:
    """Refuse a header that could break out of its line. The error never echoes a secret value."""
    for char in _FORBIDDEN:
        if char in key:
            raise HeaderInjection(
                f"refusing to send header name {key!r}: it contains {_CHAR_NAMES[char]}; "
                "that would let the name inject another action"
            )
    if not key or key != key.strip() or ":" in key:
        raise LocalProtocolError(f"invalid header name {key!r}")
    for char in _FORBIDDEN:
        if char in value:
            shown = "<hidden>" if key.lower() in _SECRET_KEYS else repr(value[:40])
            raise HeaderInjection(
                f"refusing to send header {key!r}: its value contains {_CHAR_NAMES[char]} ({shown}); "
                "that would let the value inject another action"
            )


def action_pairs(action: str, headers: HeaderInput | None = None) -> list[tuple[str, str]]:
    """``[("Action", action), *headers]`` with every key and value checked."""
    check_header("Action", action)
    if not action:
        raise LocalProtocolError("the action name is empty")
    pairs = normalize_headers(headers)
    return [("Action", action), *[(k, v) for k, v in pairs if k.lower() != "action"]]


def encode_message(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``Key: Value`` CRLF lines and the terminating blank line (pairs must already be checked)."""
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode("utf-8", "surrogateescape") + b"\r\n"


def encode_action(action: str, headers: HeaderInput | None = None) -> bytes:
    """Bytes of one action for the AMI TCP stream."""
    return encode_message(action_pairs(action, headers))


def query_pairs(action: str, headers: HeaderInput | None = None) -> list[tuple[str, str]]:
    """Query parameters for an AJAM request (``action=...`` first; repeated keys stay repeated).

    The HTTP library URL-encodes them; the guard still applies because Asterisk decodes ``%0d%0a``
    back into the header value it hands to the action.
    """
    pairs = action_pairs(action, headers)
    return [("action", action), *pairs[1:]]


def redact(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A copy safe for logs: secrets and MD5 keys replaced."""
    return [(k, "***" if k.lower() in _SECRET_KEYS else v) for k, v in pairs]
