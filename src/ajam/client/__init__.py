"""Manager clients: one async API over AMI/TCP (:class:`AmiClient`) and AJAM/HTTP (:class:`AjamClient`).

>>> async with await connect("ami://admin:s3cret@127.0.0.1:5038") as client:   # doctest: +SKIP
...     reply = await client.send("CoreShowChannels")

For plain scripts, :mod:`ajam.client.sync` offers the same client behind blocking calls.
"""

from __future__ import annotations

from typing import Any

from ajam.client.base import (
    NOTICE_DISCONNECTED,
    NOTICE_GAP,
    NOTICE_RECONNECTED,
    ClientStats,
    EventStream,
    ManagerClient,
    Reply,
    is_notice,
)
from ajam.client.http import AjamClient
from ajam.client.tcp import AmiClient
from ajam.client.url import InvalidUrl, ManagerUrl, parse_url


def create_client(url: str | ManagerUrl, **options: Any) -> ManagerClient:
    """The client for ``url``'s scheme, not yet connected (``options`` go to its constructor)."""
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.is_http:
        return AjamClient(parsed, **options)
    return AmiClient(parsed, **options)


async def connect(url: str | ManagerUrl, **options: Any) -> ManagerClient:
    """Connect and log in; use the result with ``async with`` (or call ``close()``)."""
    client = create_client(url, **options)
    await client.connect()
    return client


__all__ = [
    "NOTICE_DISCONNECTED",
    "NOTICE_GAP",
    "NOTICE_RECONNECTED",
    "AjamClient",
    "AmiClient",
    "ClientStats",
    "EventStream",
    "InvalidUrl",
    "ManagerClient",
    "ManagerUrl",
    "Reply",
    "connect",
    "create_client",
    "is_notice",
    "parse_url",
]
