"""JSON answers of the admin API, encoded with orjson (UTF-8 bytes, insertion key order)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_bytes(body: bytes, status: int = 200) -> web.Response:
    """An answer already encoded (list1 splices cached fragments)."""
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def json_response(document: Any, status: int = 200) -> web.Response:
    return json_bytes(orjson.dumps(document), status)
