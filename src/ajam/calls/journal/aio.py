"""The journal for asyncio code: every database call runs in worker threads, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TextIO, TypeVar

from ajam.calls.journal.codec import encode
from ajam.calls.journal.filters import Moment
from ajam.calls.journal.journal import Journal, open_journal
from ajam.calls.journal.stats import QueueStats
from ajam.calls.model import Call

T = TypeVar("T")


class AsyncJournal:
    """Awaitable face of a ``Journal``; same methods and meanings.

    ``store`` snapshots the call on the event loop before handing it to a worker, so the tracker may keep
    updating its live object. A cancelled ``await`` does not undo a write that already started.
    """

    def __init__(self, journal: Journal, *, workers: int = 4) -> None:
        self._journal = journal
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ajam-journal")

    @classmethod
    async def open(
        cls, url_or_path: str | None = None, *, upgrade: bool = True, workers: int = 4
    ) -> AsyncJournal:
        """``open_journal`` (connecting and migrating) in a worker thread."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ajam-journal-open")
        try:
            loop = asyncio.get_running_loop()
            journal = await loop.run_in_executor(
                executor, functools.partial(open_journal, url_or_path, upgrade=upgrade)
            )
        finally:
            executor.shutdown(wait=False)
        return cls(journal, workers=workers)

    @property
    def journal(self) -> Journal:
        """The synchronous journal underneath (for code that runs in threads anyway)."""
        return self._journal

    @property
    def name(self) -> str:
        return self._journal.name

    async def _run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args, **kwargs))

    async def store(self, call: Call) -> None:
        await self._run(self._journal.store_encoded, [encode(call, stored_at=time.time())])

    async def store_many(self, calls: Sequence[Call]) -> int:
        now = time.time()
        return await self._run(self._journal.store_encoded, [encode(call, stored_at=now) for call in calls])

    async def query(self, **filters: Any) -> list[Call]:
        return await self._run(self._journal.query, **filters)

    async def count(self, **filters: Any) -> int:
        return await self._run(self._journal.count, **filters)

    async def get(self, call_id: str) -> Call | None:
        return await self._run(self._journal.get, call_id)

    async def export_csv(self, out: TextIO, **filters: Any) -> int:
        return await self._run(self._journal.export_csv, out, **filters)

    async def stats(self, *, since: Moment, until: Moment, queue: str | None = None) -> list[QueueStats]:
        return await self._run(self._journal.stats, since=since, until=until, queue=queue)

    async def close(self) -> None:
        """Wait for pending work, then release the database."""
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        await asyncio.to_thread(self._journal.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
