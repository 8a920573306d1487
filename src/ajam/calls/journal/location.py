"""Where a journal lives: a file path, ``sqlite:///...`` or ``postgresql://...`` → a SQLAlchemy URL.

Also the one place that turns a URL into text for messages: always with the password hidden.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from ajam.errors import JournalError

ENVIRONMENT_VARIABLE = "AJAM_JOURNAL"
MEMORY = ":memory:"
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def default_location() -> Path:
    """``$AJAM_JOURNAL`` if set, else ``$XDG_DATA_HOME/ajam/calls.db`` (``~/.local/share/ajam/calls.db``)."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ajam" / "calls.db"


def resolve(url_or_path: str | os.PathLike[str] | None) -> URL:
    """The SQLAlchemy URL of a journal location.

    ``None`` → the default SQLite file (its folder is created); ``':memory:'`` → a private in-memory
    SQLite database; any string without ``://`` → a SQLite file path (``~`` expanded);
    ``sqlite:///relative.db`` / ``sqlite:////absolute.db`` → SQLite; ``postgresql://``, ``postgres://``
    and ``postgresql+psycopg://`` → PostgreSQL through psycopg 3.
    """
    if url_or_path is None:
        path = default_location()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    text = os.fspath(url_or_path)
    if text == MEMORY:
        return URL.create("sqlite", database=MEMORY)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        scheme = text.split("://", 1)[0]
        raise JournalError(
            f"not a valid journal URL (scheme {scheme!r}); expected a path, "
            "sqlite:///path or postgresql://user:password@host/database"
        ) from None
    if url.drivername in _POSTGRES_SCHEMES:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url.set(drivername="sqlite")
    raise JournalError(
        f"unsupported journal database {safe_text(url)}: use a path, sqlite:/// or postgresql://"
    )


def safe_text(url: URL) -> str:
    """The URL for messages and logs: the password, if any, shown as ``***``."""
    return url.render_as_string(hide_password=True)


def scrub(message: str, url: URL) -> str:
    """``message`` with the URL's password removed wherever a driver may have echoed it."""
    password = url.password
    if password:
        message = message.replace(str(password), "***")
    return message
