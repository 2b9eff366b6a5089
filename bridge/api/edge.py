"""The admin API's edge: a request id for every log line, every answer counted by route
template and status, and every error, bridge's or aiohttp's, turned into the one XUI JSON
error shape (shapes.error).

It wraps each /api handler as the route is added (``EdgeRoutes``), not as a middleware:
aiohttp runs the middleware chain of the whole app for every request once any sub-app has
a middleware, POST /directory included (~5-12 µs of each lookup, BENCHMARKS.md, "CPU per
lookup (issue 25)"). What no route takes reaches ``unmatched``, the last route, so a wrong
path or method gets the same shape and count a middleware gave it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.api import shapes
from bridge.api.respond import json_response
from bridge.errors import DatabaseUnavailable, RequestError
from bridge.keys import METRICS
from bridge.logs import id_for, request_id

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# aiohttp's own refusals (no route, wrong method, body too large), in XUI words.
_HTTP_REASONS = {404: "not found", 405: "method not allowed", 413: "request too large"}
# The name of the last route, which takes what no other route does.
UNMATCHED = "unmatched"


def error_response(status: int, reason: str) -> web.Response:
    """The admin API's answer to a refused request: XUI's error JSON (shapes.error)."""
    return json_response(shapes.error(status, reason), status=status)


def route_template(request: web.Request) -> str:
    """The route as registered ("/api/extensions/{id}"), never the raw path: a bounded label."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or (resource.name or "").startswith(UNMATCHED):
        return UNMATCHED
    return resource.canonical


def edge(handler: Handler) -> Handler:
    """``handler`` with the edge around it: the caller's X-Request-Id (or a fresh id) on
    every log line of the request, errors in XUI's shape, the answer counted."""

    @functools.wraps(handler)
    async def edged(request: web.Request) -> web.StreamResponse:
        token = request_id.set(id_for(request.headers))
        try:
            response = await _answer(request, handler)
            request.config_dict[METRICS].api_requests.labels(
                route_template(request), str(response.status)
            ).inc()
            return response
        finally:
            request_id.reset(token)

    return edged


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        response = error_response(exc.status, exc.reason)
        if exc.status == 408:
            response.force_close()  # the rest of a dripped body is never read: cut
        return response
    except DatabaseUnavailable as exc:
        log.warning("database unavailable path=%s error=%s", request.path, exc)
        return error_response(503, "database unavailable")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, _HTTP_REASONS.get(exc.status, exc.reason.lower()))
        if "Allow" in exc.headers:  # a 405 names the methods the path takes (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        return error_response(500, "internal error")


async def unmatched(request: web.Request) -> web.StreamResponse:
    """What no other route takes: 405 naming the methods its path takes, as aiohttp's router
    would answer, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


class EdgeRoutes:
    """A sub-app's router that adds every handler with the edge around it (``edge``)."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        self._router = router

    def add_get(self, path: str, handler: Handler) -> None:
        self._router.add_get(path, edge(handler))

    def add_post(self, path: str, handler: Handler) -> None:
        self._router.add_post(path, edge(handler))

    def add_put(self, path: str, handler: Handler) -> None:
        self._router.add_put(path, edge(handler))

    def add_delete(self, path: str, handler: Handler) -> None:
        self._router.add_delete(path, edge(handler))

    def add_fallback(self) -> None:
        """The last routes: whatever path and method no route above takes (``unmatched``),
        the sub-app's own prefix (/api) included."""
        self._router.add_route("*", "/{tail:.*}", edge(unmatched), name=UNMATCHED)
        self._router.add_route("*", "", edge(unmatched), name=f"{UNMATCHED}_prefix")
