"""create_app(config): the one place that wires bridge together.

Start-up and shutdown order is the order of ``cleanup_ctx`` entries: metrics, then the
database pool, then each job's own resources (added by its ``setup``), so shutdown stops
the jobs before it closes the pool they write to.

The main app has no middlewares: every POST /directory would pay for them (aiohttp wraps
each handler of an app that has any), and FreeSWITCH blocks a SIP thread on every lookup.
Each edge keeps its own errors off the wire instead: the directory handler itself, the
admin API in its sub-app's middlewares (bridge/api/edge.py); /healthz, /readyz and
/metrics cannot fail but by a bug, which aiohttp answers with a bare 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bridge import api as admin_api
from bridge import health
from bridge.config import Config
from bridge.db import Database
from bridge.directory import cache_ctx as directory_cache
from bridge.directory import handler as directory_endpoint
from bridge.directory.store import DatabaseStore
from bridge.health import HealthRegistry
from bridge.keys import CONFIG, DATABASE, DIRECTORY_STORE, HEALTH, METRICS
from bridge.metrics import Metrics, handle_metrics
from bridge.registrations import service as registrations


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.database.url is None:
        raise RuntimeError("create_app needs config.database.url (the CLI resolves it)")
    app[DATABASE] = await Database.connect(config.database.url, config.database)
    app[METRICS].watch_pool(app[DATABASE].pool, config.database.pool_max)
    app[DATABASE].on_acquire = app[METRICS].db_acquire_seconds.observe
    # The uncached store; the directory cache's entry puts memory in front of it.
    store = DatabaseStore(app[DATABASE])
    app[DIRECTORY_STORE] = store
    yield
    await store.close()  # reads still pending or running end before the pool closes
    await app[DATABASE].close()


def create_app(config: Config) -> web.Application:
    app = web.Application(
        client_max_size=config.http.max_body_bytes,
        # aiohttp's keep-alive timer runs from a connection's opening (or its previous
        # response) until a complete request head: a client dripping headers is cut after
        # http.header_timeout (it overrides run_app's keepalive_timeout). After an early
        # answer (408, 413) the rest of a body is read and dropped for at most
        # http.body_timeout more (aiohttp's lingering close; its default is 10 s).
        handler_args={
            "keepalive_timeout": config.http.header_timeout,
            "lingering_time": config.http.body_timeout,
        },
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[HEALTH] = HealthRegistry()
    app.cleanup_ctx.append(_database_ctx)
    registrations.setup(app)  # ESL listeners, REGISTRATIONS, FREESWITCH (the cache flushes through it)
    directory_cache.setup(app)  # replaces the uncached DIRECTORY_STORE; listener, flusher
    directory_endpoint.setup(app)  # POST /directory
    admin_api.setup(app)  # /api sub-app: XUI-compatible admin API (needs the database)
    # Each job adds its own cleanup_ctx entries and routes, in dependency order:
    # (directory cache, registrations/ESL, directory endpoint, admin API).
    app.router.add_get("/metrics", handle_metrics)
    health.setup(app)
    return app
