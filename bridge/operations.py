"""Wiring of the operations job: metrics, readiness and the shared database pool, and the
routes /metrics, /healthz and /readyz.

Its ``cleanup_ctx`` entry is the app's first, so the pool every other job uses opens before
them and closes after them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bridge.config import Config, DatabaseConfig, HttpConfig
from bridge.db import Database
from bridge.errors import DatabaseUnavailable
from bridge.health import Check, ComponentStatus, HealthRegistry
from bridge.http_server import quiet_parser_refusals
from bridge.keys import DATABASE, HEALTH, METRICS
from bridge.metrics import Metrics


async def _database_ctx(config: DatabaseConfig, app: web.Application) -> AsyncIterator[None]:
    if config.url is None:
        raise RuntimeError("create_app needs config.database.url (the CLI resolves it)")
    database = app[DATABASE] = await Database.connect(config.url, config)
    app[METRICS].watch_pool(database.pool, config.pool_max)
    database.on_acquire = app[METRICS].db_acquire_seconds.observe
    yield
    await database.close()


async def _quiet_parser_ctx(app: web.Application) -> AsyncIterator[None]:
    """aiohttp's parser refusals: one DEBUG line each, counted, no traceback (http_server.py)."""
    async with quiet_parser_refusals(app[METRICS].http_refused):
        yield


async def _stopping(http: HttpConfig, app: web.Application) -> None:
    """aiohttp runs on_shutdown before it waits (drain_timeout) for requests in flight: from
    here, the whole shutdown has http.shutdown_timeout; statements still running when the
    drain ends are cut, so no request waits on the database past it (a stalled one too)."""
    database = app.get(DATABASE)
    if database is not None:
        database.stopping(drain=http.drain_timeout, total=http.shutdown_timeout)


def _database_check(app: web.Application) -> Check:
    async def check() -> ComponentStatus:
        database = app.get(DATABASE)
        if database is None:
            return ComponentStatus("down", {"error": "not started"})
        pool = {"pool_open": database.pool.get_size(), "pool_idle": database.pool.get_idle_size()}
        started = time.perf_counter()
        try:
            await database.fetchval("SELECT 1")
        except DatabaseUnavailable as exc:
            return ComponentStatus("down", {"error": str(exc), **pool})
        return ComponentStatus("up", {"latency_seconds": round(time.perf_counter() - started, 4), **pool})

    return check


async def handle_metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def handle_healthz(request: web.Request) -> web.Response:
    # Alive means the event loop answers: no I/O here, so a database outage never gets
    # the process restarted by its supervisor.
    return web.json_response({"status": "ok"})


async def handle_readyz(request: web.Request) -> web.Response:
    overall, body = await request.app[HEALTH].report()
    return web.json_response(body, status=503 if overall == "not_ready" else 200)


def setup(app: web.Application, config: Config) -> None:
    app[METRICS] = Metrics()
    app[HEALTH] = HealthRegistry()
    app[HEALTH].register("database", _database_check(app))
    app.cleanup_ctx.append(_quiet_parser_ctx)
    app.cleanup_ctx.append(functools.partial(_database_ctx, config.database))
    app.on_shutdown.append(functools.partial(_stopping, config.http))
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
