"""Blocking face of the async clients, for plain scripts.

One implementation, two faces: :class:`SyncClient` runs the very same async client on a private event
loop in a daemon thread and waits for each call's result.

>>> with connect("ami://admin:s3cret@127.0.0.1:5038") as client:   # doctest: +SKIP
...     print(client.send("Ping").response)
...     for event in client.events(timeout=5):
...         print(event.name)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any, Self, TypeVar

from ajam.client import create_client
from ajam.client.base import ClientStats, EventStream, ManagerClient, Reply
from ajam.client.url import ManagerUrl
from ajam.protocol.encode import HeaderInput
from ajam.protocol.message import Event

T = TypeVar("T")


class SyncClient:
    """A connected client whose methods block. Close it (or use ``with``) to stop its thread."""

    def __init__(self, url: str | ManagerUrl, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ajam-sync-client", daemon=True)
        self._thread.start()
        try:
            self._client: ManagerClient = self._run(self._create(url, options))
            self._run(self._client.connect())
        except BaseException:
            self._stop_loop()
            raise

    @staticmethod
    async def _create(url: str | ManagerUrl, options: dict[str, Any]) -> ManagerClient:
        return create_client(url, **options)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def client(self) -> ManagerClient:
        """The async client underneath (only to be used from its own loop)."""
        return self._client

    @property
    def stats(self) -> ClientStats:
        return self._client.stats

    def send(
        self, action: str, headers: HeaderInput | None = None, *, timeout: float = 10.0, check: bool = True
    ) -> Reply:
        return self._run(self._client.send(action, headers, timeout=timeout, check=check))

    def set_eventmask(self, mask: str) -> Reply:
        return self._run(self._client.set_eventmask(mask))

    def add_filter(self, filter: str = "", *, match_criteria: str | None = None) -> Reply:
        return self._run(self._client.add_filter(filter, match_criteria=match_criteria))

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events as they arrive; the iteration ends after ``timeout`` seconds without an event."""
        stream = self._run(self._open_stream())
        try:
            while True:
                try:
                    yield self._run(self._next(stream, timeout))
                except (StopAsyncIteration, TimeoutError, FutureTimeout):
                    return
        finally:
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(stream.close)

    async def _open_stream(self) -> EventStream:
        return self._client.events()

    @staticmethod
    async def _next(stream: EventStream, timeout: float | None) -> Event:
        return await asyncio.wait_for(stream.__anext__(), timeout)

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self._run(self._client.close(), timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def connect(url: str | ManagerUrl, **options: Any) -> SyncClient:
    """Connect and log in; returns a blocking client (``with connect(url) as client: ...``)."""
    return SyncClient(url, **options)
