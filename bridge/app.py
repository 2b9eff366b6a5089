"""create_app(config): the one place that wires bridge together.

Start-up and shutdown order is the order of ``cleanup_ctx`` entries: metrics, then the
database pool, then each job's own resources (added by its ``setup``), so shutdown stops
the jobs before it closes the pool they write to.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from random import getrandbits

from aiohttp import web

from bridge import api as admin_api
from bridge import health
from bridge.config import Config
from bridge.db import Database
from bridge.directory import cache_ctx as directory_cache
from bridge.directory import handler as directory_endpoint
from bridge.directory.store import DatabaseStore
from bridge.errors import DatabaseUnavailable
from bridge.health import HealthRegistry
from bridge.keys import CONFIG, DATABASE, DIRECTORY_STORE, HEALTH, METRICS
from bridge.logs import request_id
from bridge.metrics import Metrics, handle_metrics
from bridge.registrations import service as registrations

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag every log line of a request with an id, and keep tracebacks off the wire."""
    # 12 random hex digits, as uuid4().hex[:12] gave, at a tenth of its cost (every lookup pays it).
    token = request_id.set(request.headers.get("X-Request-Id", "")[:64] or f"{getrandbits(48):012x}")
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DatabaseUnavailable as exc:
        log.warning("database unavailable path=%s error=%s", request.path, exc)
        return web.json_response({"code": 503, "text": "database unavailable"}, status=503)
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        return web.json_response({"code": 500, "text": "internal error"}, status=500)
    finally:
        request_id.reset(token)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.database.url is None:
        raise RuntimeError("create_app needs config.database.url (the CLI resolves it)")
    app[DATABASE] = await Database.connect(config.database.url, config.database)
    app[METRICS].watch_pool(app[DATABASE].pool, config.database.pool_max)
    app[DATABASE].on_acquire = app[METRICS].db_acquire_seconds.observe
    app[DIRECTORY_STORE] = DatabaseStore(app[DATABASE])
    yield
    await app[DATABASE].close()


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[request_context],
        client_max_size=config.http.max_body_bytes,
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[HEALTH] = HealthRegistry()
    app.cleanup_ctx.append(_database_ctx)
    registrations.setup(app)  # ESL listeners, REGISTRATIONS, FREESWITCH (the cache flushes through it)
    directory_cache.setup(app)  # replaces the uncached DIRECTORY_STORE; listener, flusher
    directory_endpoint.setup(app)  # POST /directory
    admin_api.setup(app)  # /api/: XUI-compatible admin API (needs the database)
    # Each job adds its own cleanup_ctx entries and routes, in dependency order:
    # (directory cache, registrations/ESL, directory endpoint, admin API).
    app.router.add_get("/metrics", handle_metrics)
    health.setup(app)
    return app
