"""Reading client input: query parameters and form-or-JSON bodies, refused early when malformed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.errors import RequestError

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


def query_int(request: web.Request, name: str, default: int) -> int:
    value = query_text(request, name)
    if value is None:
        return default
    try:
        return int(value, 10)
    except ValueError:
        raise RequestError(f"{name} must be an integer", code="bad_parameter") from None


def query_bool(request: web.Request, name: str) -> bool:
    value = query_text(request, name)
    return value is not None and value.strip().lower() in ("1", "true", "t", "yes", "on")


async def body_fields(request: web.Request) -> Mapping[str, Any]:
    """Fields of a JSON object or a www-form-urlencoded body (XUI accepts both for logins)."""
    if request.content_type == "application/json" or (await request.read())[:1] == b"{":
        try:
            document = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise RequestError("body is not JSON", code="bad_body") from None
        if not isinstance(document, dict):
            raise RequestError("body must be a JSON object", code="bad_body")
        return document
    return await request.post()


def required_text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or value == "":
        raise MISSING_ARGS
    return clean(value, name)
