"""Wiring of the directory job: ``setup(app, config)`` creates, starts and stops all it needs.

One ``cleanup_ctx`` entry, after the database and the registrations job (it flushes
FreeSWITCH's user cache through ``app[FREESWITCH]``):

    DatabaseStore (batched reads) -> CachedStore (app[DIRECTORY_STORE], set once)
    InvalidationListener (LISTEN) -> DirectoryCache.changed -> the cache, FreeSwitchFlusher,
                                                               WholeAnswers (app[WHOLE_ANSWERS])
    Listener.watch_nodes (node up/down) -> FreeSwitchFlusher; resync -> Warmer (warmup.py)

and the route ``POST /directory`` (handler.py). Shutdown stops the listener and the flusher,
then the store's pending reads, before the pool closes (the next entry back).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.config import Config
from bridge.directory import sql
from bridge.directory.database_store import DatabaseStore
from bridge.directory.guarded import LOOKUP_GUARD
from bridge.directory.handler import DirectoryEndpoint
from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE, WHOLE_ANSWERS
from bridge.directory.live import DirectoryCache
from bridge.directory.node_flush import FreeSwitchFlusher
from bridge.keys import DATABASE, HEALTH, METRICS
from bridge.registrations.events import NodeChanged
from bridge.registrations.keys import FREESWITCH, REGISTRATIONS
from bridge.registrations.model import NodeState


async def _directory_ctx(config: Config, app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    backend = DatabaseStore(app[DATABASE])
    nodes = app.get(FREESWITCH)  # started by the registrations job's entry, before this one
    warm_pages = functools.partial(sql.fetch_page, app[DATABASE])
    cache = DirectoryCache(backend, config, metrics, lambda: nodes, warm_pages, whole=app.get(WHOLE_ANSWERS))
    app[DIRECTORY_CACHE] = cache
    app[DIRECTORY_STORE] = cache.store
    metrics.cache_entries.set_function(lambda: len(cache.store))
    app[HEALTH].register("directory_cache", cache.health)
    tasks = [asyncio.create_task(cache.listener.run(), name="directory-listener")]
    if cache.flusher is not None:
        _watch_nodes(app, cache.flusher)
        tasks.append(asyncio.create_task(cache.flusher.run(), name="freeswitch-flusher"))
    # Start serving once changes are heard; if PostgreSQL stalls, serve anyway (the
    # listener keeps trying, and /readyz says "degraded" until it succeeds).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cache.listener.wait_listening(), config.database.connect_timeout)
    yield
    if cache.warmer is not None:
        await cache.warmer.stop()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    app[HEALTH].unregister("directory_cache")
    await backend.close()  # reads still pending or running end before the pool closes


def _watch_nodes(app: web.Application, flusher: FreeSwitchFlusher) -> None:
    """Flush a node's whole cache each time it (re)connects, the first time included."""

    def changed(change: NodeChanged) -> None:
        if change.state is NodeState.UP:
            flusher.node_up(change.node)
        else:
            flusher.node_down(change.node)

    nodes = app.get(FREESWITCH)
    if nodes is None:
        return
    nodes.watch_nodes(changed)
    # A node that came up before the watcher was in place (the ESL job starts first).
    for status in app[REGISTRATIONS].nodes():
        if status.state is NodeState.UP:
            flusher.node_up(status.name)


def setup(app: web.Application, config: Config) -> None:
    endpoint = DirectoryEndpoint(
        config.directory, config.http.max_body_bytes, app[METRICS], config.http.body_timeout
    )
    # The directory cache's change listener tells it when answers may be reused (live.py).
    app[WHOLE_ANSWERS] = endpoint.answerer.whole
    endpoint.guard = app.get(LOOKUP_GUARD)  # the registration guard, when on (set up before)
    app.cleanup_ctx.append(functools.partial(_directory_ctx, config))
    app.router.add_post("/directory", endpoint.handle)
