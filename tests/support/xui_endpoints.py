"""The method + path pairs of the two XUI documents (tests/fixtures/xui/), read from them."""

from __future__ import annotations

import re
from pathlib import Path

XUI = Path(__file__).resolve().parents[1] / "fixtures" / "xui"

_URL = re.compile(r"请求 URL[:：]?\s*(/api/\S*)")
_METHOD = re.compile(r"请求方式[:：]?\s*(GET|POST|PUT|DELETE)")
_PARAMETER = re.compile(r"(:[A-Za-z_]+|\$[A-Za-z_]+)")

# The auth document has no "请求 URL" lines: its five endpoints, each checked to be in its text.
AUTH_ENDPOINTS = (
    ("POST", "/api/sessions"),
    ("DELETE", "/api/sessions"),
    ("POST", "/api/users/dev_keys"),
    ("GET", "/api/users/dev_keys"),
    ("DELETE", "/api/users/dev_keys"),
)


def shape(path: str) -> str:
    """``/api/users/:id`` and ``/api/users/$id`` and ``/api/users/:extnID`` -> ``/api/users/{}``;
    the query and a trailing "/" or ":" dropped."""
    path = path.split("?", maxsplit=1)[0].rstrip(":")
    if len(path) > 1:
        path = path.rstrip("/")
    return _PARAMETER.sub("{}", path)


def rest_endpoints() -> list[tuple[str, str]]:
    """Every (method, path shape) of the REST document, in the document's order, once each:
    each "请求方式" applies to the "请求 URL" lines before it."""
    found: dict[tuple[str, str], None] = {}
    urls: list[str] = []
    for line in (XUI / "xui-rest-api.zh.txt").read_text().splitlines():
        url = _URL.search(line)
        if url:
            urls.append(url.group(1))
            continue
        method = _METHOD.search(line)
        if method and urls:
            for one in urls:
                found[(method.group(1), shape(one))] = None
            urls = []
    return list(found)


def documented_endpoints() -> list[tuple[str, str]]:
    auth_text = (XUI / "xui-auth-api.zh.txt").read_text()
    for method, path in AUTH_ENDPOINTS:
        assert method in auth_text and path in auth_text
    found = dict.fromkeys(AUTH_ENDPOINTS)
    found.update(dict.fromkeys(rest_endpoints()))
    return list(found)
