"""The yardstick: a bare aiohttp server that reads the form and answers a constant 2.5 KB document.

python bench/directory_bare.py PORT [DSN]

With a DSN it also reads the form's user from PostgreSQL first, with bridge's own
statement (``sql.EXTENSION_BY_KEY``) on a plain asyncpg pool (no reset query on release):
the bare handler plus one database round trip, the floor for a cold lookup.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.directory.store.sql import EXTENSION_BY_KEY

BODY = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<document type="freeswitch/xml">'
    + "<!--"
    + "x" * 2400
    + "-->"
    + "</document>\n"
).encode()

POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool")


async def handle(request: web.Request) -> web.Response:
    await request.post()
    return web.Response(body=BODY, content_type="text/xml")


async def handle_with_read(request: web.Request) -> web.Response:
    form = await request.post()
    user = str(form.get("user", "")).partition("@")[0]
    await request.app[POOL].fetch(EXTENSION_BY_KEY, str(form.get("domain", "")), user)
    return web.Response(body=BODY, content_type="text/xml")


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


def main() -> None:
    app = web.Application()
    if len(sys.argv) > 2:
        dsn = sys.argv[2]

        async def pool(app: web.Application) -> AsyncIterator[None]:
            app[POOL] = await asyncpg.create_pool(dsn, min_size=2, max_size=10, reset=_no_reset)
            yield
            await app[POOL].close()

        app.cleanup_ctx.append(pool)
        app.router.add_post("/directory", handle_with_read)
    else:
        app.router.add_post("/directory", handle)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
