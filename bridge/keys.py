"""Every typed application key, in one place; no logic."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.db import Database
    from bridge.health import HealthRegistry
    from bridge.metrics import Metrics

CONFIG: web.AppKey[Config] = web.AppKey("config")
DATABASE: web.AppKey[Database] = web.AppKey("database")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
# Components register their /readyz check here (see bridge/health.py).
HEALTH: web.AppKey[HealthRegistry] = web.AppKey("health")

if TYPE_CHECKING:
    from bridge.directory.store import DirectoryStore

DIRECTORY_STORE: web.AppKey[DirectoryStore] = web.AppKey("directory_store")

if TYPE_CHECKING:
    from bridge.directory.setup import DirectoryCache

# The running directory cache, its change listener and status() (for /readyz).
DIRECTORY_CACHE: web.AppKey[DirectoryCache] = web.AppKey("directory_cache")

if TYPE_CHECKING:
    from bridge.registrations.model import RegistrationView
    from bridge.registrations.nodes import NodeCommands
    from bridge.registrations.persist import RegistrationStore

# The registration state (read-only view) and the FreeSWITCH command interface.
REGISTRATIONS: web.AppKey[RegistrationView] = web.AppKey("registrations")
FREESWITCH: web.AppKey[NodeCommands] = web.AppKey("freeswitch")
# This process's id among bridge instances (node lease owner), and the registration sync.
INSTANCE: web.AppKey[str] = web.AppKey("instance")
REGISTRATION_STORE: web.AppKey[RegistrationStore] = web.AppKey("registration_store")
# Optional, set before start-up: the wall clock registration expiry is judged by (tests).
REGISTRATION_CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("registration_clock")

if TYPE_CHECKING:
    from bridge.api.auth import Authenticator
    from bridge.api.presence import PresenceCache
    from bridge.api.queries import CatalogStore

# The admin API's login/session/dev-key checker (bridge/api/auth.py).
API_AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("api_authenticator")
# The admin API's in-memory list of live extensions and its picture of who is online.
API_CATALOG: web.AppKey[CatalogStore] = web.AppKey("api_catalog")
API_PRESENCE: web.AppKey[PresenceCache] = web.AppKey("api_presence")
