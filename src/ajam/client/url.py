"""Manager URLs: where the PBX is, which transport to use and who to log in as.

* ``ami://user:secret@host:5038`` — AMI over TCP; ``amis://`` — AMI over TLS (default port 5039).
  ``?auth=md5`` logs in with the MD5 challenge instead of sending the secret.
* ``http://user:secret@host:8088/asterisk[/rawman|/mxml|/manager|/arawman|/amxml]`` and ``https://`` —
  AJAM; the last path segment picks the encoder (see :func:`ajam.protocol.http.endpoint_from_path`).

Credentials missing from the URL come from ``AJAM_USERNAME`` / ``AJAM_SECRET``, then from a TOML file
(``AJAM_CONFIG`` or ``~/.config/ajam/credentials.toml``) with one table per host, keyed by ``host:port``
or ``host``::

    ["pbx.example.com"]
    username = "crm"
    secret = "..."

so that secrets stay out of shell history. :meth:`ManagerUrl.redacted` is the form for logs and errors.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ajam.errors import LocalProtocolError
from ajam.protocol.http import Endpoint, endpoint_from_path

DEFAULT_PORTS = {"ami": 5038, "amis": 5039, "http": 8088, "https": 8089}
AUTH_METHODS = ("plain", "md5")
USERNAME_ENV = "AJAM_USERNAME"
SECRET_ENV = "AJAM_SECRET"
CONFIG_ENV = "AJAM_CONFIG"
DEFAULT_CONFIG = Path("~/.config/ajam/credentials.toml")


class InvalidUrl(LocalProtocolError):
    """The manager URL cannot be used (unknown scheme, bad port, ...)."""


@dataclass(frozen=True)
class ManagerUrl:
    """A parsed manager URL. ``secret`` never shows in ``repr`` or :meth:`redacted`."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    endpoint: Endpoint | None = None
    auth: str = "plain"
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_http(self) -> bool:
        return self.scheme in ("http", "https")

    @property
    def tls(self) -> bool:
        return self.scheme in ("amis", "https")

    @property
    def host_port(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def http_url(self) -> str:
        """``http(s)://host:port/prefix/encoder`` without credentials (HTTP URLs only)."""
        if self.endpoint is None:
            raise InvalidUrl(f"{self.redacted()} is not an HTTP manager URL")
        return f"{self.scheme}://{self.host_port}{self.endpoint.path}"

    def redacted(self) -> str:
        """The URL for logs and error messages: the user is shown, the secret never."""
        user = f"{quote(self.username, safe='')}:***@" if self.username else ""
        path = self.endpoint.path if self.endpoint is not None else ""
        query = "?auth=md5" if self.auth == "md5" else ""
        return f"{self.scheme}://{user}{self.host_port}{path}{query}"

    def __str__(self) -> str:
        return self.redacted()


def parse_url(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    config_path: Path | str | None = None,
) -> ManagerUrl:
    """Parse a manager URL and fill missing credentials from the environment or the credentials file."""
    environ = os.environ if env is None else env
    try:
        parts = urlsplit(text)
        port_number = parts.port
    except ValueError as error:
        raise InvalidUrl(f"invalid manager URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(
            f"unsupported URL scheme {scheme or '(none)'!r}: use ami://, amis://, http:// or https://"
        )
    host = parts.hostname
    if not host:
        raise InvalidUrl("the manager URL has no host")
    port = port_number if port_number is not None else DEFAULT_PORTS[scheme]
    options = dict(parse_qsl(parts.query))
    auth = options.pop("auth", "plain").lower()
    if auth not in AUTH_METHODS:
        raise InvalidUrl(f"unknown auth method {auth!r}: use auth=plain or auth=md5")
    endpoint = endpoint_from_path(parts.path) if scheme in ("http", "https") else None
    if endpoint is None and parts.path not in ("", "/"):
        raise InvalidUrl(f"an {scheme}:// URL takes no path (got {parts.path!r})")
    username = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password is not None else None
    if username is None:
        username = environ.get(USERNAME_ENV) or None
    if secret is None and username is not None:
        secret = environ.get(SECRET_ENV) or None
    if username is None or secret is None:
        stored = _stored_credentials(host, port, environ, config_path)
        if stored is not None:
            stored_user, stored_secret = stored
            if username is None:
                username = stored_user
            if secret is None and username == stored_user:
                secret = stored_secret
    return ManagerUrl(scheme, host, port, username, secret, endpoint, auth, options)


def config_file(env: Mapping[str, str], config_path: Path | str | None = None) -> Path:
    if config_path is not None:
        return Path(config_path)
    configured = env.get(CONFIG_ENV)
    return Path(configured) if configured else DEFAULT_CONFIG.expanduser()


def _stored_credentials(
    host: str, port: int, env: Mapping[str, str], config_path: Path | str | None
) -> tuple[str | None, str | None] | None:
    path = config_file(env, config_path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidUrl(f"cannot read the credentials file {path}: {error}") from None
    for key in (f"{host}:{port}", host):
        section = data.get(key)
        if isinstance(section, dict):
            user = section.get("username")
            secret = section.get("secret")
            return (
                user if isinstance(user, str) else None,
                secret if isinstance(secret, str) else None,
            )
    return None
