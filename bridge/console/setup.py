"""Wiring of the console: ``setup(app, config)`` adds the page, its hub and board, and the
feeds from the registration state and the guard; ``add_api_routes`` its /api routes.

    RegistrationState Deltas ──┐
    Guard events (Judged, BanChanged) ──> Board (messages, failures, chart) -> Hub -> GET /api/events
    state.nodes(), every console.node_poll_seconds ──┘
    GET /console/ (static files, strict CSP) -> /api/console/* (views.py), /api/events (stream.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bridge.api.edge import EdgeRoutes
from bridge.config import Config, ConsoleConfig
from bridge.console import stream, views
from bridge.console.board import Board
from bridge.console.hub import Hub, Payload
from bridge.console.keys import CONSOLE_BOARD, CONSOLE_HUB, CONSOLE_METRICS
from bridge.console.metrics import ConsoleMetrics
from bridge.guard.setup import GUARD
from bridge.keys import METRICS
from bridge.metrics import bound
from bridge.registrations.keys import REGISTRATIONS

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/console"

# No inline script or style, nothing from another origin, never in a frame.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """On the page's every answer, its errors included (``on_response_prepare`` of the page's
    sub-app: a middleware would make aiohttp run the chain for POST /directory too)."""
    response.headers.update(SECURITY_HEADERS)


async def _index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _to_index(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(PREFIX + "/")


async def _console_ctx(config: ConsoleConfig, app: web.Application) -> AsyncIterator[None]:
    board = app[CONSOLE_BOARD]
    state = app[REGISTRATIONS]
    state.subscribe(board.delta)
    guard = app.get(GUARD)
    if guard is not None:
        guard.subscribe(board.guard)

    async def watch_nodes() -> None:
        # Node changes do not pass through the state's Deltas yet: look at them often.
        while True:
            board.nodes(state.nodes())
            await asyncio.sleep(config.node_poll_seconds)

    task = asyncio.create_task(watch_nodes(), name="console-nodes")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _end_streams(app: web.Application) -> None:
    """Open streams would hold shutdown for http.shutdown_timeout: end them first."""
    app[CONSOLE_HUB].close()


def setup(app: web.Application, config: Config) -> None:
    """After the registrations and the guard (it subscribes to both)."""
    settings = config.console
    if not settings.enabled:
        return
    metrics = ConsoleMetrics(app[METRICS].registry)
    hub = Hub(
        ring_size=settings.ring_size,
        queue_size=settings.queue_size,
        max_clients=settings.max_clients,
        on_cut=metrics.cut.inc,
    )
    metrics.clients.set_function(hub.clients)

    counted = bound(metrics.messages)

    def publish(kind: str, payload: Payload, domain: str | None) -> None:
        counted(kind).inc()
        hub.publish(kind, payload, domain)

    app[CONSOLE_METRICS] = metrics
    app[CONSOLE_HUB] = hub
    app[CONSOLE_BOARD] = Board(publish, attempts_kept=settings.attempts_kept)
    app.cleanup_ctx.append(functools.partial(_console_ctx, settings))
    app.on_shutdown.append(_end_streams)
    page = web.Application()
    page.on_response_prepare.append(security_headers)
    page.router.add_get("/", _index)
    page.router.add_static("/static", STATIC)
    app.router.add_get(PREFIX, _to_index)
    app.add_subapp(PREFIX, page)


def add_api_routes(router: EdgeRoutes) -> None:
    """The console's reads and stream, in the /api sub-app (its authentication and errors)."""
    router.add_get("/events", stream.events)
    router.add_get("/console/me", views.me)
    router.add_get("/console/registrations", views.registrations)
    router.add_get("/console/summary", views.summary)
    router.add_get("/console/attempts", views.attempts)
    router.add_get("/console/bans", views.bans)
