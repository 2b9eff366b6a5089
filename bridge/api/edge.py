"""The admin API's edge (the /api sub-app's middlewares): a request id for every log line,
every answer counted by route template and status, and every error, bridge's or aiohttp's,
turned into the one XUI JSON error shape (shapes.error)."""

from __future__ import annotations

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


def error_response(status: int, reason: str) -> web.Response:
    """The admin API's answer to a refused request: XUI's error JSON (shapes.error)."""
    return json_response(shapes.error(status, reason), status=status)


def route_template(request: web.Request) -> str:
    """The route as registered ("/api/extensions/{id}"), never the raw path: a bounded label."""
    resource = request.match_info.route.resource
    return "unmatched" if resource is None else resource.canonical


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag every log line of the request with the caller's X-Request-Id, or a fresh id."""
    token = request_id.set(id_for(request.headers))
    try:
        return await handler(request)
    finally:
        request_id.reset(token)


@web.middleware
async def api_edge(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except RequestError as exc:
        response = error_response(exc.status, exc.reason)
        if exc.status == 408:
            response.force_close()  # the rest of a dripped body is never read: cut
    except DatabaseUnavailable as exc:
        log.warning("database unavailable path=%s error=%s", request.path, exc)
        response = error_response(503, "database unavailable")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = _HTTP_REASONS.get(exc.status, exc.reason.lower())
        response = error_response(exc.status, reason)
        if "Allow" in exc.headers:  # a 405 names the methods the path takes (RFC 9110 15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        response = error_response(500, "internal error")
    request.config_dict[METRICS].api_requests.labels(route_template(request), str(response.status)).inc()
    return response
