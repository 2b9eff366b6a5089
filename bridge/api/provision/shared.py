"""What every provisioning handler shares: the caller's scope, the JSON body, the limits,
one info line and one count per change, and refusals counted by reason."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from aiohttp import web

from bridge.api.auth import authenticated
from bridge.api.params import read_body
from bridge.api.scope import Scope
from bridge.api.validate import Invalid, Limits, TooMany
from bridge.api.writes import Conflict
from bridge.errors import Forbidden, NotFound, RequestError, SlowBody, Unauthorized
from bridge.keys import CONFIG, METRICS

log = logging.getLogger("bridge.api.provision")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def caller(request: web.Request) -> Scope:
    """Who asks, as what they may provision (the one use of auth.py here)."""
    return Scope.of(await authenticated(request))


async def admin(request: web.Request) -> Scope:
    return (await caller(request)).require_admin()


def limits(request: web.Request) -> Limits:
    api = request.config_dict[CONFIG].api
    return Limits(max_chars=api.max_field_chars, max_rows=api.max_bulk_rows)


def write_timeout(request: web.Request) -> float:
    return request.config_dict[CONFIG].api.write_timeout


async def body(request: web.Request) -> Any:
    """The JSON body, whatever the Content-Type says (the document's own curl examples send
    JSON as form-urlencoded, and one spells it "applcation/json"). Size is bounded by
    http.max_body_bytes (413) before this reads it."""
    raw = await read_body(request)
    if not raw.strip():
        return None
    try:
        # orjson refuses NaN, integers beyond 64 bits, invalid UTF-8 and lone surrogates.
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("body is not JSON") from None


async def object_body(request: web.Request) -> Mapping[str, Any]:
    document = await body(request)
    if not isinstance(document, dict):
        raise Invalid("body must be a JSON object")
    return document


def path_id(request: web.Request) -> int:
    """The {id} of the route (digits by its pattern); beyond int4 no row has it."""
    value = int(request.match_info["id"])
    if not 0 <= value <= 2**31 - 1:
        raise NotFound("not found")
    return value


def id_range(ids: Sequence[int]) -> str:
    """Row ids for a log line: all of a few, the first and last of many."""
    if len(ids) <= 5:
        return ",".join(map(str, ids))
    return f"{ids[0]}..{ids[-1]}"


def changed(
    request: web.Request, scope: Scope, table: str, action: str, ids: Sequence[int], *, detail: str = ""
) -> None:
    """One info line and one count per change: who, what, which rows; never a secret."""
    request.config_dict[METRICS].provision_rows.labels(table, action).inc(len(ids))
    log.info(
        "provision %s %s by=%s rows=%d ids=%s%s",
        table,
        action,
        scope.who(),
        len(ids),
        id_range(ids),
        f" {detail}" if detail else "",
    )


def _reason(exc: RequestError) -> str:
    if isinstance(exc, SlowBody):
        return "slow_body"
    if isinstance(exc, TooMany):
        return "too_many"
    if isinstance(exc, Forbidden | Unauthorized):
        return "scope"
    if isinstance(exc, Conflict):
        return "conflict"
    if isinstance(exc, NotFound):
        return "not_found"
    return "invalid"


def counted(handler: Handler) -> Handler:
    """Count each refusal by reason; the API edge turns it into the XUI error shape."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            request.config_dict[METRICS].provision_refused.labels(_reason(exc)).inc()
            raise

    return wrapper


def optional_text(fields: Mapping[str, Any], name: str, check: Callable[[Any], str]) -> str | None:
    value = fields.get(name)
    return None if value is None or value == "" else check(value)
