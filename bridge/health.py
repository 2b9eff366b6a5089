"""/healthz (the process answers) and /readyz (database and FreeSWITCH nodes)."""

from __future__ import annotations

from aiohttp import web

from bridge.errors import DatabaseUnavailable
from bridge.keys import DATABASE


async def handle_healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def handle_readyz(request: web.Request) -> web.Response:
    database = "up"
    try:
        await request.app[DATABASE].fetchval("SELECT 1")
    except DatabaseUnavailable:
        database = "down"
    ready = database == "up"
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "database": database},
        status=200 if ready else 503,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
