"""Wiring of the admin API: XUI-compatible registration and extension status behind XUI's authentication.

A sub-application mounted at /api; every handler is added with the edge around it
(edge.EdgeRoutes: no middleware, which aiohttp would run for POST /directory too):

request -> edge.edge (request id, errors, metrics; edge.unmatched for what no route takes)
        -> handler (users, extensions, sessions)
        -> auth (token -> Principal) -> queries (PostgreSQL, CatalogStore -> catalog)
        + presence (RegistrationView) -> shapes (XUI JSON) -> respond (orjson)

Handlers reach the main app's objects (CONFIG, DATABASE, METRICS, REGISTRATIONS) and the
API's own (API_*) through ``request.config_dict``, which looks through the parent app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from bridge.api import extensions, sessions, user_keys, users
from bridge.api.auth import Authenticator
from bridge.api.catalog_store import CatalogStore
from bridge.api.edge import EdgeRoutes
from bridge.api.groups import lists as group_lists
from bridge.api.groups import manage as groups
from bridge.api.keys import API_AUTHENTICATOR, API_CATALOG, API_PRESENCE
from bridge.api.openapi import document as openapi
from bridge.api.presence import PresenceCache
from bridge.api.provision.routes import provision_routes
from bridge.config import ApiConfig, Config
from bridge.console import setup as console
from bridge.guard import api as guard_api
from bridge.keys import DATABASE, METRICS
from bridge.registrations.keys import REGISTRATIONS

PREFIX = "/api"


async def _api_ctx(api: web.Application, config: ApiConfig, app: web.Application) -> AsyncIterator[None]:
    api[API_AUTHENTICATOR] = Authenticator(app[DATABASE], config, app[METRICS])
    api[API_CATALOG] = CatalogStore(app[DATABASE], app[METRICS])
    view = app.get(REGISTRATIONS)  # the registrations job's entry ran first
    presence = api[API_PRESENCE] = PresenceCache(view, config.unknown_status)
    if view is not None:
        view.subscribe(presence.on_delta)
    yield


def setup(app: web.Application, config: Config) -> None:
    """Mount the API at /api; its authenticator and caches start after the database ctx."""
    api = web.Application()
    router = EdgeRoutes(api.router)
    router.add_post("/sessions", sessions.create_session)
    router.add_delete("/sessions", sessions.delete_session)
    router.add_post("/users/dev_keys", sessions.create_dev_key)
    router.add_get("/users/dev_keys", sessions.list_dev_keys)
    router.add_delete("/users/dev_keys", sessions.delete_dev_key)
    router.add_get(r"/users/{id:\d{1,18}}/dev_keys", user_keys.list_user_keys)
    router.add_delete(r"/users/{id:\d{1,18}}/dev_keys", user_keys.revoke_user_keys)
    router.add_get("/users/list", users.users_list)
    router.add_get("/users/list1", users.users_list1)
    router.add_get("/extensions", extensions.list_extensions)
    router.add_get(r"/extensions/{id:\d{1,18}}", extensions.get_extension)
    router.add_get("/openapi.json", openapi.serve)
    provision_routes(router)
    groups.add_routes(router)  # XUI groups (what group_call rings)
    group_lists.add_routes(router)
    guard_api.add_routes(router)  # the registration guard's attempts, verdicts and bans
    if config.console.enabled:
        console.add_api_routes(router)  # GET /api/events, /api/console/* (bridge/console/)
    router.add_fallback()  # what no route above takes: XUI's 404 or 405
    # In the main app's cleanup_ctx, not the sub-app's: aiohttp runs a sub-app's startup
    # after the main app's whole cleanup_ctx and its cleanup after it too, i.e. after the
    # database pool is closed. Here it starts after the database, registrations and the
    # directory cache, and stops before them.
    app.cleanup_ctx.append(partial(_api_ctx, api, config.api))
    app.add_subapp(PREFIX, api)
