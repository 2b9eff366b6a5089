"""The XUI-compatible admin API: registration and extension status behind XUI's authentication.

request -> edge.api_edge (errors, metrics) -> handler (users, extensions, sessions)
        -> auth (token -> Principal) -> queries (PostgreSQL, CatalogStore -> catalog)
        + presence (RegistrationView) -> shapes (XUI JSON) -> respond (orjson)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bridge.api import extensions, openapi, sessions, users
from bridge.api.auth import Authenticator
from bridge.api.edge import api_edge
from bridge.api.presence import PresenceCache
from bridge.api.queries import CatalogStore
from bridge.keys import API_AUTHENTICATOR, API_CATALOG, API_PRESENCE, CONFIG, DATABASE, METRICS


async def _api_ctx(app: web.Application) -> AsyncIterator[None]:
    app[API_AUTHENTICATOR] = Authenticator(app[DATABASE], app[CONFIG].api, app[METRICS])
    app[API_CATALOG] = CatalogStore(app[DATABASE])
    app[API_PRESENCE] = PresenceCache()
    yield


def setup(app: web.Application) -> None:
    """Routes, the /api/ edge middleware, the authenticator and the caches (need the database ctx first)."""
    app.middlewares.append(api_edge)
    app.cleanup_ctx.append(_api_ctx)
    router = app.router
    router.add_post("/api/sessions", sessions.create_session)
    router.add_delete("/api/sessions", sessions.delete_session)
    router.add_post("/api/users/dev_keys", sessions.create_dev_key)
    router.add_get("/api/users/dev_keys", sessions.list_dev_keys)
    router.add_delete("/api/users/dev_keys", sessions.delete_dev_key)
    router.add_get("/api/users/list", users.users_list)
    router.add_get("/api/users/list1", users.users_list1)
    router.add_get("/api/extensions", extensions.list_extensions)
    router.add_get(r"/api/extensions/{id:\d{1,18}}", extensions.get_extension)
    router.add_get("/api/openapi.json", openapi.serve)
