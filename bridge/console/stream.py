"""GET /api/events: the console's live event stream as Server-Sent Events (docs/console.md).

Authenticated like the rest of /api (admin scope); a reconnect sends Last-Event-ID and gets
what it missed from the hub's ring, or one "reload" message.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from bridge.console.hub import encode
from bridge.console.keys import CONSOLE_HUB, CONSOLE_METRICS
from bridge.console.views import scope_of
from bridge.errors import RequestError
from bridge.keys import CONFIG

BUSY = RequestError("too many event stream clients (console.max_clients)", status=503, code="busy")


async def events(request: web.Request) -> web.StreamResponse:
    scope = await scope_of(request)
    hub = request.config_dict[CONSOLE_HUB]
    metrics = request.config_dict[CONSOLE_METRICS]
    if hub.full():
        metrics.joins.labels("refused").inc()
        raise BUSY
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    client = hub.join(scope, last)
    metrics.joins.labels(client.began).inc()
    transport = request.transport
    if transport is not None:
        client.abort = transport.abort
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Accel-Buffering": "no",  # nginx: pass each message on at once
        }
    )
    keepalive = request.config_dict[CONFIG].console.keepalive_seconds
    try:
        await response.prepare(request)
        hello = encode(hub.last_id(), "hello", {"scope": scope, "id": hub.last_id()}).split(b"\n", 1)[1]
        await response.write(b"retry: 1000\n\n" + hello)
        while True:
            try:
                frames = await asyncio.wait_for(client.take(), keepalive)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if not frames:
                break  # cut, or bridge is stopping
            await response.write(b"".join(frames))
    except ConnectionResetError:
        return response
    finally:
        hub.leave(client)
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response
