"""HTTP Digest authentication (RFC 2617, MD5, ``qop=auth``) as Asterisk's ``a*`` endpoints use it.

Asterisk's challenge (http_14): ``WWW-authenticate: Digest algorithm=MD5, realm="asterisk",
nonce="<8 hex>", qop="auth", opaque="<same 8 hex>"`` (``, stale=true`` when a nonce count was
replayed). Shared by the simulator (to check answers) and by clients or tests (to compute them).
"""

from __future__ import annotations

import hashlib
import re

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def digest_response(
    *,
    username: str,
    realm: str,
    secret: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str | None = None,
    cnonce: str | None = None,
    qop: str | None = None,
) -> str:
    """The ``response=`` value a client sends (``qop=auth`` form when ``qop`` is given)."""
    ha1 = _md5(f"{username}:{realm}:{secret}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def parse_digest_params(header: str) -> dict[str, str] | None:
    """``Digest k="v", k2=v2`` (from Authorization or WWW-Authenticate) → params, lower-case keys."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else (bare or "")
        params[match.group(1).lower()] = value
    return params


def challenge_header(nonce: str, *, realm: str = "asterisk", stale: bool = False) -> str:
    """The ``WWW-authenticate`` value exactly as Asterisk writes it."""
    suffix = ", stale=true" if stale else ""
    return f'Digest algorithm=MD5, realm="{realm}", nonce="{nonce}", qop="auth", opaque="{nonce}"{suffix}'
