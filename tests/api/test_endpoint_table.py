"""docs/admin-api.md's table of the XUI documents' endpoints equals the documents and the
routes bridge serves (issue 22)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from tests.api.conftest import Api
from tests.support.xui_endpoints import documented_endpoints, shape

DOCS = Path(__file__).resolve().parents[2] / "docs" / "admin-api.md"
_ROW = re.compile(r"^\| (GET|POST|PUT|DELETE) \| `([^`]+)` \| (served|no) \| (.*) \|$")
_ROUTE_PARAMETER = re.compile(r"\{[a-z_]+(:[^/]*)?\}")

# bridge's own routes under /api, beyond the documents.
BRIDGE_ONLY = {
    ("GET", "/api/openapi.json"),
    ("GET", "/api/extensions/{}/registration_attempts"),
    ("GET", "/api/guard/why"),
    ("GET", "/api/guard/bans"),
    ("DELETE", "/api/guard/bans/{}"),
    ("DELETE", "/api/guard/bans/{}/{}"),
    ("DELETE", "/api/users/{}/dev_keys"),
    ("PUT", "/api/users/"),  # the document's own spelling of PUT /api/users in one example
    ("GET", "/api/events"),
    ("GET", "/api/console/me"),
    ("GET", "/api/console/summary"),
    ("GET", "/api/console/registrations"),
    ("GET", "/api/console/attempts"),
    ("GET", "/api/console/bans"),
}


def table() -> dict[tuple[str, str], str]:
    rows = {}
    for line in DOCS.read_text().splitlines():
        match = _ROW.match(line)
        if match:
            method, path, served, _ = match.groups()
            assert (method, path) not in rows, f"twice: {method} {path}"
            rows[(method, path)] = served
    return rows


def _resources(app: web.Application) -> Iterator[web.AbstractResource]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from _resources(resource.get_info()["app"])
        else:
            yield resource


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for resource in _resources(app):
        for route in resource:
            if route.method in ("GET", "POST", "PUT", "DELETE") and resource.canonical.startswith("/api/"):
                out.add((route.method, _ROUTE_PARAMETER.sub("{}", resource.canonical)))
    return out


def test_the_table_lists_each_documented_endpoint_once_in_the_documents_order() -> None:
    documented = documented_endpoints()
    assert len(documented) == 118
    assert list(table()) == documented
    assert shape("/api/users/$id") == shape("/api/users/:extnID") == "/api/users/{}"


async def test_the_table_says_served_exactly_for_the_routes_bridge_serves(api: Api) -> None:
    app = api.client.app
    assert app is not None
    routes = served_routes(app)
    said = {endpoint for endpoint, served in table().items() if served == "served"}
    assert said == routes - BRIDGE_ONLY
    documented = set(table())
    assert routes - documented == BRIDGE_ONLY
