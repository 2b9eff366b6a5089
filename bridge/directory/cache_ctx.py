"""Wire the directory cache into the app: the cache, its change listener, the FreeSWITCH flusher.

One ``cleanup_ctx`` entry, placed after the database: it puts the cache in front of the
uncached store at ``app[DIRECTORY_STORE]`` (the database entry owns and closes that one),
replaces it there, and owns the two background tasks (listener, flusher), so shutdown
stops them before the pool closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from bridge.config import Config
from bridge.directory.cache import CachedStore, Result
from bridge.directory.handler import WHOLE_ANSWERS
from bridge.directory.invalidation import InvalidationListener, Key, ListenerState
from bridge.directory.invalidation_fs import FreeSwitchFlusher, NodeBroadcaster
from bridge.health import ComponentStatus
from bridge.keys import CONFIG, DIRECTORY_CACHE, DIRECTORY_STORE, FREESWITCH, HEALTH, METRICS
from bridge.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DirectoryCacheStatus:
    entries: int
    capacity: int
    # "listening": changes are heard; otherwise cached users are served as last known.
    listener: ListenerState
    listener_since: float
    last_error: str
    reconnects: int
    # True when entries may be stale (listener not listening) — worth a "degraded".
    serving_stale: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DirectoryCache:
    """The running cache and what feeds it; ``status()`` is what /readyz reports."""

    def __init__(self, app: web.Application, config: Config, metrics: Metrics) -> None:
        assert config.database.url is not None
        results = ("hit", "negative_hit", "miss", "stale")
        requests = {r: metrics.cache_requests.labels(result=r) for r in results}

        def count(result: Result) -> None:
            requests[result].inc()

        self.store = CachedStore(
            app[DIRECTORY_STORE],
            capacity=config.directory.cache_size,
            negative_ttl=config.directory.negative_ttl,
            count=count,
        )
        self._invalidations = metrics.invalidations
        # Whole-directory answers are reused only while changes are heard (whole.py).
        self._whole = app.get(WHOLE_ANSWERS)
        self.flusher: FreeSwitchFlusher | None = None
        if config.directory.fs_cacheable_ms > 0:
            self.flusher = FreeSwitchFlusher(lambda: _node_manager(app), metrics.fs_cache_flushes)
        self.listener = InvalidationListener(
            config.database.url,
            self,
            connect_timeout=max(config.database.query_timeout * 4, 2.0),
        )

    # InvalidationSink: the listener's one door into the cache.
    def changed(self, keys: Sequence[Key]) -> None:
        self.store.invalidate(keys)
        if self._whole is not None:
            self._whole.invalidate()
        self._invalidations.labels(source="notify").inc(len(keys))
        if self.flusher is not None:
            self.flusher.flush(keys)
        log.debug("directory change keys=%d", len(keys))

    def changed_all(self) -> None:
        dropped = self.store.invalidate_all()
        if self._whole is not None:
            self._whole.invalidate()
        self._invalidations.labels(source="notify_all").inc()
        if self.flusher is not None:
            self.flusher.flush_all()
        log.info("directory change: everything dropped entries=%d", dropped)

    def resynced(self) -> None:
        self.store.set_coherent(True)
        if self._whole is not None:
            self._whole.set_reusable(True)
        self._invalidations.labels(source="resync").inc()
        if self.flusher is not None:
            self.flusher.flush_all()
        log.info("directory cache resync: entries will be re-read entries=%d", len(self.store))

    def lost(self) -> None:
        self.store.set_coherent(False)
        if self._whole is not None:
            self._whole.set_reusable(False)

    async def health(self) -> ComponentStatus:
        """For /readyz: never "down" (the cache always answers what it knows); "degraded"
        while changes cannot be heard, because cached users are then served as last known."""
        status = self.status()
        return ComponentStatus("degraded" if status.serving_stale else "up", status.as_dict())

    def status(self) -> DirectoryCacheStatus:
        listener = self.listener.status()
        return DirectoryCacheStatus(
            entries=len(self.store),
            capacity=self.store.status().capacity,
            listener=listener.state,
            listener_since=listener.since,
            last_error=listener.last_error,
            reconnects=listener.reconnects,
            serving_stale=listener.state != "listening",
        )


def _node_manager(app: web.Application) -> NodeBroadcaster | None:
    # Looked up at send time: the ESL job's cleanup_ctx entry starts after this one.
    return app.get(FREESWITCH)


async def directory_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    cache = DirectoryCache(app, app[CONFIG], metrics)
    app[DIRECTORY_CACHE] = cache
    app[DIRECTORY_STORE] = cache.store
    metrics.cache_entries.set_function(lambda: len(cache.store))
    app[HEALTH].register("directory_cache", cache.health)
    tasks = [asyncio.create_task(cache.listener.run(), name="directory-listener")]
    if cache.flusher is not None:
        tasks.append(asyncio.create_task(cache.flusher.run(), name="freeswitch-flusher"))
    # Start serving once changes are heard; if PostgreSQL stalls, serve anyway (the
    # listener keeps trying, and /readyz says "degraded" until it succeeds).
    with contextlib.suppress(TimeoutError):
        limit = max(app[CONFIG].database.query_timeout * 4, 2.0)
        await asyncio.wait_for(cache.listener.wait_listening(), limit)
    yield
    # Stop the listener and the flusher before the pool closes (next entry back).
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    app[HEALTH].unregister("directory_cache")


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(directory_cache_ctx)
