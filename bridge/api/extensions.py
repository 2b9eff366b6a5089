"""GET /api/extensions (paged, filtered by extn, name and live status) and GET /api/extensions/{id}."""

from __future__ import annotations

from aiohttp import web

from bridge.api import params, queries, shapes
from bridge.api.auth import admin, reader
from bridge.api.catalog import Listing
from bridge.api.keys import API_CATALOG, API_PRESENCE
from bridge.api.respond import json_response
from bridge.errors import NotFound, RequestError
from bridge.keys import DATABASE

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_MAX_ID = 2**31 - 1  # extensions.id is SERIAL (int4)


def read_page(request: web.Request) -> shapes.Page:
    """page < 1 reads as 1; page_size < 1 as the default; above the cap as the cap."""
    page = max(1, params.query_int(request, "page", 1))
    size = params.query_int(request, "page_size", DEFAULT_PAGE_SIZE)
    size = DEFAULT_PAGE_SIZE if size < 1 else min(size, MAX_PAGE_SIZE)
    return shapes.Page(page=page, size=size)


def read_status(request: web.Request) -> shapes.Status | None:
    value = params.query_text(request, "status")
    if value is None:
        return None
    for status in shapes.STATUSES:
        if value == status:
            return status
    raise RequestError("status must be online, offline or unknown", code="bad_parameter")


async def list_extensions(request: web.Request) -> web.Response:
    principal = await admin(request)
    page = read_page(request)
    status = read_status(request)
    extn = params.query_text(request, "extn")
    name = params.query_text(request, "name")
    scope = principal.domain_scope
    shared = request.config_dict
    presence = shared[API_PRESENCE].read(scope)

    def pick(listing: Listing) -> tuple[int, list[int]]:
        positions = listing.select(extn, status, presence.online, presence.absent)
        return len(positions), listing.page_ids(positions, page)

    db = shared[DATABASE]
    if name is None:
        row_count, rows = await queries.catalog_page(shared[API_CATALOG], db, scope, pick)
    else:
        row_count, rows = await queries.named_page(db, scope, extn, name, pick)
    data = [shapes.extension(row, presence.status(row["extn"], row["domain"])) for row in rows]
    hpack = params.query_bool(request, "hpack")
    return json_response(shapes.extension_page(data, row_count, page, hpack, presence.nodes))


async def get_extension(request: web.Request) -> web.Response:
    ext_id = int(request.match_info["id"])
    principal = await reader(request, lambda own: own.id == ext_id)
    shared = request.config_dict
    row = None
    if ext_id <= _MAX_ID:
        row = await queries.extension_by_id(shared[DATABASE], ext_id, principal.domain_scope)
    if row is None:
        raise NotFound("not found")
    presence = shared[API_PRESENCE].read(principal.domain_scope)
    body = shapes.extension(row, presence.status(row["extn"], row["domain"]))
    body["login"] = row["login"] or ""
    # The document's object lists the DIDs routed to the extension; bridge manages no DID
    # table, so the key is there (clients iterate it) and always empty (docs/admin-api.md).
    body["dids"] = []
    return json_response(body)
