"""Warm start: load the directory into the cache in the background, page by page.

After start-up and after each resync (entries read before it are suspect), a REGISTER
storm should be answered from memory, not by one database read per phone. The warm-up
reads ``extensions`` in key order, ``directory.warmup_page_size`` rows per statement
(keyset paging: each page starts after the last key of the previous one, never one huge
query), and hands each page to the cache, which keeps what lookups or changes made newer
meanwhile (cache.py, ``preload``). It stops when the cache is full (``cache_size``) or
the table is read. Lookups meanwhile are answered as ever; /readyz shows the progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bridge.directory.extension import Extension, Key
from bridge.directory.store.cache import CachedStore
from bridge.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

FetchPage = Callable[[Key, int], Awaitable[list[tuple[Key, Extension]]]]
WarmupState = Literal["idle", "running", "done", "failed", "off"]


@dataclass(frozen=True, slots=True)
class WarmupStatus:
    state: WarmupState
    # Rows read and entries added by the current (or last) warm-up.
    read: int
    loaded: int
    # time.time() when it started, and how long the finished one took.
    started: float
    seconds: float


class Warmer:
    def __init__(
        self,
        cache: CachedStore,
        fetch_page: FetchPage,
        *,
        page_size: int,
        retry_delay: float = 1.0,
        on_loaded: Callable[[int], None] = lambda count: None,
        on_done: Callable[[], None] = lambda: None,
    ) -> None:
        self._cache = cache
        self._fetch_page = fetch_page
        self._page_size = max(1, page_size)
        self._retry_delay = retry_delay
        self._on_loaded = on_loaded
        self._on_done = on_done
        self._task: asyncio.Task[None] | None = None
        self._status = WarmupStatus("idle", 0, 0, 0.0, 0.0)

    def status(self) -> WarmupStatus:
        return self._status

    def start(self) -> None:
        """(Re)start from the first key: a warm-up still running is abandoned."""
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._run(), name="directory-warmup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait(self) -> None:
        """Until the current warm-up ends (tests)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        started = time.time()
        clock = time.monotonic()
        self._status = WarmupStatus("running", 0, 0, started, 0.0)
        try:
            read, loaded = await self._pages(started, clock)
        finally:
            self._cache.end_preload()
        seconds = time.monotonic() - clock
        self._status = WarmupStatus("done", read, loaded, started, seconds)
        log.info("directory warm-up done read=%d loaded=%d seconds=%.1f", read, loaded, seconds)
        self._on_done()

    async def _pages(self, started: float, clock: float) -> tuple[int, int]:
        read = loaded = 0
        after: Key = ("", "")
        while not self._cache.full:
            self._cache.begin_preload()
            try:
                page = await self._fetch_page(after, self._page_size)
            except DatabaseUnavailable as exc:
                # Lookups read what they need anyway; try this page again a little later.
                log.warning("directory warm-up page failed, retrying error=%s", exc)
                self._status = WarmupStatus("failed", read, loaded, started, time.monotonic() - clock)
                await asyncio.sleep(self._retry_delay)
                continue
            if not page:
                break
            added = self._cache.preload(page)
            read += len(page)
            loaded += added
            self._on_loaded(added)
            after = page[-1][0]
            self._status = WarmupStatus("running", read, loaded, started, time.monotonic() - clock)
            await asyncio.sleep(0)  # let the lookups that arrived meanwhile run
        return read, loaded
