"""create_app(config): composes each job's ``setup(app, config)``, in dependency order.

Each job creates, starts and stops what it needs in its own ``cleanup_ctx`` entries, so
start-up runs in the order below and shutdown in the reverse: the jobs stop before the
pool they write to closes.

The main app has no middlewares: every POST /directory would pay for them (aiohttp wraps
each handler of an app that has any), and FreeSWITCH blocks a SIP thread on every lookup.
Each edge keeps its own errors off the wire instead: the directory handler itself, the
admin API in its sub-app's middlewares (bridge/api/edge.py); /healthz, /readyz and
/metrics cannot fail but by a bug, which aiohttp answers with a bare 500. Below the routes,
app[EDGE] (bridge/http_edge.py) answers what aiohttp's parser refuses; it costs a lookup
nothing (bridge/http_server.py).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bridge import gc_tuning, operations
from bridge.api import setup as api
from bridge.config import Config
from bridge.directory import setup as directory
from bridge.embedded import readiness as embedded
from bridge.guard import setup as guard
from bridge.http_edge import HttpEdge
from bridge.http_server import EDGE
from bridge.keys import CONFIG, METRICS
from bridge.registrations import setup as registrations


def create_app(
    config: Config, *, embedded_status: Path | None = None, serving: bool = False
) -> web.Application:
    """The app for ``config``. ``embedded_status``: the embedded PostgreSQL's status file
    (bridge/embedded/supervisor.py), when bridge started one: it joins /readyz and
    /metrics. ``serving``: the process serves this app (bridge/supervisor.py), so the
    garbage collector is tuned once start-up is done; a test process keeps the defaults."""
    app = web.Application(
        client_max_size=config.http.max_body_bytes,
        # aiohttp's keep-alive timer runs from a connection's opening (or its previous
        # response) until a complete request head: a client dripping headers is cut after
        # http.header_timeout (it overrides the runner's keepalive_timeout; the cut is
        # counted by app[EDGE], see bridge/http_server.py). After an early answer (408,
        # 413) the rest of a body is read and dropped for at most http.body_timeout more
        # (aiohttp's lingering close; its default is 10 s).
        handler_args={
            "keepalive_timeout": config.http.header_timeout,
            "lingering_time": config.http.body_timeout,
        },
    )
    app[CONFIG] = config
    # Routes: GET /metrics, /healthz, /readyz; metrics, health; the database pool (first
    # to open, last to close).
    operations.setup(app, config)
    # Below any route (bridge/http_server.py serves every app through it): requests the HTTP
    # parser refuses get the directory's or the API's error shape; header timeouts counted.
    app[EDGE] = HttpEdge(app[METRICS])
    # The registration guard: before the endpoint it guards and the events it watches
    # (its entry starts after the pool, stops after the registrations and the directory).
    guard.setup(app, config)
    # ESL listeners and the registration state; app[FREESWITCH], which the directory
    # flushes FreeSWITCH's user cache through. Needs the database (leases, rows).
    registrations.setup(app, config)
    # POST /directory; its store, cache, change listener and node flusher.
    directory.setup(app, config)
    # The /api sub-app (XUI-compatible admin API): needs the database and the registrations.
    api.setup(app, config)
    if embedded_status is not None:  # the embedded server on /readyz and /metrics
        embedded.setup(app, embedded_status)
    if serving:
        gc_tuning.serving(app)
    return app
