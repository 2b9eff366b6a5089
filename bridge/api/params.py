"""Reading client input: query parameters and form-or-JSON bodies, refused early when malformed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bridge.errors import RequestError, SlowBody
from bridge.keys import CONFIG

MISSING_ARGS = RequestError("Missing Args", status=406, code="missing_args")
_MAX_TEXT = 256


def clean(value: str, name: str) -> str:
    """Text safe to bind into a query: bounded, no NUL (PostgreSQL refuses it), no undecodable bytes."""
    # yarl decodes invalid UTF-8 percent-escapes to U+FFFD; aiohttp's form parser does the same.
    if len(value) > _MAX_TEXT or "\x00" in value or "\ufffd" in value:
        raise RequestError(f"bad parameter {name}", code="bad_parameter")
    return value


def query_text(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    return clean(value, name)


# The largest value a SERIAL key, a page number or a page size may take (int4), so no
# client number reaches PostgreSQL or a list slice out of range.
MAX_INT = 2**31 - 1


def query_int(
    request: web.Request, name: str, default: int, *, low: int = -MAX_INT, high: int = MAX_INT
) -> int:
    """An integer parameter; one outside [low, high] (e.g. 2**64 as a page number) is 400."""
    value = query_text(request, name)
    if value is None:
        return default
    # At most 20 digits are parsed: int() of a 4,300-digit string raises, of a longer one
    # costs quadratic time; anything this long is out of range anyway.
    digits = value.strip()
    if len(digits) > 20:
        raise RequestError(f"{name} out of range", code="bad_parameter")
    try:
        number = int(digits, 10)
    except ValueError:
        raise RequestError(f"{name} must be an integer", code="bad_parameter") from None
    if not low <= number <= high:
        raise RequestError(f"{name} out of range", code="bad_parameter")
    return number


def query_bool(request: web.Request, name: str) -> bool:
    value = query_text(request, name)
    return value is not None and value.strip().lower() in ("1", "true", "t", "yes", "on")


T = TypeVar("T")


async def within_body_timeout(request: web.Request, read: Awaitable[T]) -> T:
    """``read`` (of the request's body), bounded by http.body_timeout: a client dripping its
    body holds a connection and a task, so it gets 408 (SlowBody; the edge then cuts it)."""
    seconds = request.config_dict[CONFIG].http.body_timeout
    try:
        async with asyncio.timeout(seconds):
            return await read
    except TimeoutError:
        raise SlowBody(seconds) from None


async def read_body(request: web.Request) -> bytes:
    return await within_body_timeout(request, request.read())


async def body_fields(request: web.Request) -> Mapping[str, Any]:
    """Fields of a JSON object, a www-form-urlencoded or a multipart/form-data body (XUI
    accepts JSON and forms for logins; curl -d sends JSON labelled as a form, hence the peek).

    A body that is none of these, or JSON nested deeper than orjson's limit (1024), is 400.
    """
    if request.content_type == "multipart/form-data":
        return await _form(request, within_body_timeout(request, request.post()))
    body = await read_body(request)
    if request.content_type == "application/json" or body.lstrip()[:1] in (b"{", b"["):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:  # also "recursion limit exceeded": never a RecursionError
            raise RequestError("body is not JSON", code="bad_body") from None
        if not isinstance(document, dict):
            raise RequestError("body must be a JSON object", code="bad_body")
        return document
    return await _form(request, request.post())  # the body read above: parsed from memory


async def _form(request: web.Request, read: Awaitable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """A form as aiohttp parses it, or 400: bytes that are not text in the declared charset
    (UnicodeDecodeError), a charset Python does not know (LookupError), no boundary or a
    broken part (ValueError), a part's header aiohttp's parser refuses (HttpProcessingError),
    each of them a 500 with a traceback before."""
    try:
        return await read
    except (ValueError, LookupError, HttpProcessingError):  # UnicodeDecodeError is a ValueError
        kind = "multipart form" if request.content_type == "multipart/form-data" else "form"
        raise RequestError(f"body is not a readable {kind}", code="bad_body") from None


def required_text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value == "":
        raise MISSING_ARGS
    return clean(value, name)
