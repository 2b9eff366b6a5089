"""The live directory cache: the CachedStore, and the change listener and node flusher that keep it true."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bridge import gc_tuning
from bridge.config import Config
from bridge.directory.extension import Key
from bridge.directory.store.cache import CachedStore, Result
from bridge.directory.store.invalidation import InvalidationListener, ListenerState
from bridge.directory.store.node_flush import FreeSwitchFlusher, NodeApi
from bridge.directory.store.protocol import DirectoryStore
from bridge.directory.store.warmup import FetchPage, Warmer, WarmupStatus
from bridge.directory.whole import WholeAnswers
from bridge.health import ComponentStatus
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
    # The warm start's progress (state "off" when disabled).
    warmup: WarmupStatus

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DirectoryCache:
    """The running cache and what feeds it; ``status()`` is what /readyz reports."""

    def __init__(
        self,
        backend: DirectoryStore,
        config: Config,
        metrics: Metrics,
        nodes: Callable[[], NodeApi | None],
        warm_pages: FetchPage,
        *,
        whole: WholeAnswers | None = None,
    ) -> None:
        assert config.database.url is not None
        results = ("hit", "negative_hit", "miss", "stale")
        requests = {r: metrics.cache_requests.labels(result=r) for r in results}

        def count(result: Result) -> None:
            requests[result].inc()

        self.store = CachedStore(
            backend,
            capacity=config.directory.cache_size,
            negative_ttl=config.directory.negative_ttl,
            count=count,
        )
        self._invalidations = metrics.invalidations
        # Whole-directory answers are reused only while changes are heard (whole.py).
        self._whole = whole
        self.flusher: FreeSwitchFlusher | None = None
        if config.directory.fs_cacheable_ms > 0:
            self.flusher = FreeSwitchFlusher(nodes, metrics.fs_cache_flushes)
        self.warmer: Warmer | None = None
        if config.directory.warmup and config.directory.cache_size > 0:
            self.warmer = Warmer(
                self.store,
                warm_pages,
                page_size=config.directory.warmup_page_size,
                on_loaded=metrics.warmup_entries.inc,
                # What the warm-up built lives until evicted: out of the collector's walks.
                on_done=gc_tuning.refreeze,
            )
        self.listener = InvalidationListener(
            config.database.url,
            self,
            connect_timeout=config.database.connect_timeout,
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
        if self.warmer is not None:
            self.warmer.start()  # at start-up, and again once entries became suspect
        self._invalidations.labels(source="resync").inc()
        # The first LISTEN at start-up needs no flush of its own: each node's cache is
        # flushed whole when this instance connects to it (node_flush.py).
        if self.flusher is not None and self.listener.status().reconnects > 0:
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
            warmup=self.warmer.status() if self.warmer is not None else _WARMUP_OFF,
        )


_WARMUP_OFF = WarmupStatus("off", 0, 0, 0.0, 0.0)
