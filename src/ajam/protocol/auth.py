"""Login rules shared by the clients and the simulated PBX.

* Plain login: ``Action: Login / Username / Secret``.
* MD5 challenge (TCP): ``Action: Challenge / AuthType: MD5`` → ``Challenge: <n>``; then
  ``Action: Login / AuthType: MD5 / Username / Key: md5hex(challenge + secret)``.
* AJAM session: the login response sets ``mansession_id="<8 hex>"; Version=1; Max-Age=<httptimeout>``;
  every later request must send it back, and each response refreshes it. A request without a valid
  cookie silently gets a *new* unauthenticated session (and ``Permission denied``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ajam.protocol.encode import check_header

COOKIE_NAME = "mansession_id"
_COOKIE = re.compile(r'(?:^|[;,]\s*)mansession_id="?([^";,\s]*)"?(?P<attrs>[^,]*)', re.IGNORECASE)
_MAX_AGE = re.compile(r";\s*Max-Age=(\d+)", re.IGNORECASE)


def challenge_key(challenge: str, secret: str) -> str:
    """The ``Key`` of an MD5 challenge login: hex MD5 of the challenge followed by the secret."""
    return hashlib.md5((challenge + secret).encode("utf-8")).hexdigest()


def login_headers(username: str, secret: str, *, events: str | None = None) -> list[tuple[str, str]]:
    """Checked like any action's headers: credentials come from URLs, files and the environment."""
    headers = [("Username", username), ("Secret", secret)]
    if events is not None:
        headers.append(("Events", events))
    return _checked(headers)


def challenge_login_headers(
    username: str, challenge: str, secret: str, *, events: str | None = None
) -> list[tuple[str, str]]:
    headers = [("AuthType", "MD5"), ("Username", username), ("Key", challenge_key(challenge, secret))]
    if events is not None:
        headers.append(("Events", events))
    return _checked(headers)


def _checked(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for key, value in headers:
        check_header(key, value)
    return headers


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """The AJAM session cookie as Asterisk sets it."""

    session_id: str
    max_age: int | None = None

    @classmethod
    def from_set_cookie(cls, header: str) -> SessionCookie | None:
        """Read ``mansession_id`` from a ``Set-Cookie`` header value (``None`` if it is not there)."""
        match = _COOKIE.search(header)
        if match is None:
            return None
        age = _MAX_AGE.search(match.group("attrs"))
        return cls(match.group(1), int(age.group(1)) if age else None)

    @classmethod
    def from_cookie_header(cls, header: str) -> SessionCookie | None:
        """Read ``mansession_id`` from a request ``Cookie`` header (used by the simulator)."""
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name.lower() == COOKIE_NAME:
                return cls(value.strip().strip('"'))
        return None

    def request_header(self) -> str:
        """The ``Cookie`` header value to send back."""
        return f'{COOKIE_NAME}="{self.session_id}"'

    def set_cookie_header(self) -> str:
        """The ``Set-Cookie`` header value exactly as Asterisk writes it."""
        age = f"; Max-Age={self.max_age}" if self.max_age is not None else ""
        return f'{COOKIE_NAME}="{self.session_id}"; Version=1{age}'
