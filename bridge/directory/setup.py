"""Wiring of the directory job: ``setup(app, config)`` creates, starts and stops all it needs.

One ``cleanup_ctx`` entry, after the database, the registrations job (the state it follows,
``app[FREESWITCH]`` it flushes FreeSWITCH's user cache through) and the guard (which it asks
on every sip_auth lookup), each object built with what it needs:

    DatabaseStore (batched reads) -> CachedStore (app[DIRECTORY_STORE])
    WholeAnswers -> DirectoryEndpoint (store, whole answers, guard) <- POST /directory
    InvalidationListener (LISTEN) -> DirectoryCache.changed -> the cache, FreeSwitchFlusher,
                                                               WholeAnswers
    RegistrationState Deltas (node up/down) -> FreeSwitchFlusher; resync -> Warmer (warmup.py)

Shutdown stops the listener and the flusher, then the store's pending reads, before the
pool closes (the next entry back).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.config import Config
from bridge.directory.guarded import LOOKUP_GUARD
from bridge.directory.handler import DirectoryEndpoint, whole_answers
from bridge.directory.keys import DIRECTORY_CACHE, DIRECTORY_STORE, WHOLE_ANSWERS
from bridge.directory.store import sql
from bridge.directory.store.database import DatabaseStore
from bridge.directory.store.live import DirectoryCache
from bridge.directory.store.node_flush import FreeSwitchFlusher
from bridge.keys import DATABASE, HEALTH, METRICS
from bridge.registrations.keys import FREESWITCH, REGISTRATIONS
from bridge.registrations.model import Delta, NodeState

# The endpoint, built in the entry below once its store and the guard exist.
_ENDPOINT: web.AppKey[DirectoryEndpoint] = web.AppKey("directory_endpoint", DirectoryEndpoint)


async def _directory_ctx(config: Config, app: web.Application) -> AsyncIterator[None]:
    metrics = app[METRICS]
    backend = DatabaseStore(app[DATABASE])
    nodes = app.get(FREESWITCH)  # built by the registrations job's entry, before this one
    warm_pages = functools.partial(sql.fetch_page, app[DATABASE])
    whole = app[WHOLE_ANSWERS] = whole_answers(config.directory, metrics)
    cache = DirectoryCache(backend, config, metrics, lambda: nodes, warm_pages, whole=whole)
    app[DIRECTORY_CACHE] = cache
    app[DIRECTORY_STORE] = cache.store
    app[_ENDPOINT] = DirectoryEndpoint(
        config.directory,
        config.http.max_body_bytes,
        metrics,
        cache.store,
        whole,
        guard=app.get(LOOKUP_GUARD),  # the registration guard, when on (its entry ran first)
        body_timeout=config.http.body_timeout,
    )
    metrics.cache_entries.set_function(lambda: len(cache.store))
    app[HEALTH].register("directory_cache", cache.health)
    tasks = [asyncio.create_task(cache.listener.run(), name="directory-listener")]
    if cache.flusher is not None:
        app[REGISTRATIONS].subscribe(functools.partial(_node_changed, cache.flusher))
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


def _node_changed(flusher: FreeSwitchFlusher, delta: Delta) -> None:
    """Flush a node's whole cache each time it (re)connects, the first time included (the
    listeners start after this subscription: registrations.follow)."""
    if delta.node_state is NodeState.UP:
        flusher.node_up(delta.node)
    elif delta.node_state is not None:
        flusher.node_down(delta.node)


async def _handle(request: web.Request) -> web.StreamResponse:
    return await request.app[_ENDPOINT].handle(request)


def setup(app: web.Application, config: Config) -> None:
    """After the registrations job and the guard."""
    app.cleanup_ctx.append(functools.partial(_directory_ctx, config))
    app.router.add_post("/directory", _handle)
