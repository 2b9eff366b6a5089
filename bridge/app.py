"""create_app(config): composes each job's ``setup(app, config)``, in dependency order.

Each job creates, starts and stops what it needs in its own ``cleanup_ctx`` entries, so
start-up runs in the order below and shutdown in the reverse: the jobs stop before the
pool they write to closes.

No app here has a middleware: aiohttp runs the root app's chain for every request once
the root or any sub-app has one, so every POST /directory would pay for it (~5-12 µs), and
FreeSWITCH blocks a SIP thread on every lookup. Each edge keeps its own errors off the wire
instead: the directory handler itself, the admin API's handlers each wrapped as its route
is added (bridge/api/edge.py), the console page's headers set in its sub-app's
``on_response_prepare``; /healthz, /readyz and
/metrics cannot fail but by a bug, which aiohttp answers with a bare 500. Below the routes,
aiohttp answers what its parser refuses with its own 400; the operations job keeps those
out of the log (one DEBUG line each, counted: bridge/http_server.py).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bridge import gc_tuning, operations
from bridge.api import setup as api
from bridge.config import Config
from bridge.console import setup as console
from bridge.directory import setup as directory
from bridge.embedded import readiness as embedded
from bridge.guard import setup as guard
from bridge.keys import CONFIG
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
        # http.header_timeout (it overrides the runner's keepalive_timeout). After an early
        # answer (408, 413) the rest of a body is read and dropped for at most
        # http.body_timeout more (aiohttp's lingering close; its default is 10 s).
        handler_args={
            "keepalive_timeout": config.http.header_timeout,
            "lingering_time": config.http.body_timeout,
        },
    )
    app[CONFIG] = config
    # Routes: GET /metrics, /healthz, /readyz; metrics, health; the database pool (first
    # to open, last to close).
    operations.setup(app, config)
    # The registration state (the one door for registration and node changes) with its
    # persistence; the ESL listeners built, not started; app[FREESWITCH]. Needs the database.
    registrations.setup(app, config)
    # The registration guard: subscribes to the state; built before the endpoint it guards.
    guard.setup(app, config)
    # POST /directory; its store, cache, change listener and node flusher (subscribed to the state).
    directory.setup(app, config)
    # The /api sub-app (XUI-compatible admin API): the database; presence subscribed to the state.
    api.setup(app, config)
    # The operator console at /console/ and its stream (after the registrations and the
    # guard it subscribes to; its /api routes are added by api.setup).
    console.setup(app, config)
    if embedded_status is not None:  # the embedded server on /readyz and /metrics
        embedded.setup(app, embedded_status)
    if serving:
        gc_tuning.serving(app)
    # Last: the ESL listeners start once every subscriber is in place (and stop first).
    registrations.follow(app, config)
    return app
