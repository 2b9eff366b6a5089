"""The admin API's web.AppKeys (set on the /api sub-app, read through ``request.config_dict``)."""

from __future__ import annotations

from aiohttp import web

# Defined beside its class: auth.authenticated() reads it, and importing it back here is no cycle.
from bridge.api.auth import API_AUTHENTICATOR
from bridge.api.catalog_store import CatalogStore
from bridge.api.presence import PresenceCache

__all__ = ["API_AUTHENTICATOR", "API_CATALOG", "API_PRESENCE"]

# The admin API's in-memory list of live extensions and its picture of who is online.
API_CATALOG: web.AppKey[CatalogStore] = web.AppKey("api_catalog", CatalogStore)
API_PRESENCE: web.AppKey[PresenceCache] = web.AppKey("api_presence", PresenceCache)
