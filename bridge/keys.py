"""Every typed application key, in one place; no logic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.db import Database
    from bridge.metrics import Metrics

CONFIG: web.AppKey[Config] = web.AppKey("config")
DATABASE: web.AppKey[Database] = web.AppKey("database")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")

if TYPE_CHECKING:
    from bridge.directory.store import DirectoryStore

DIRECTORY_STORE: web.AppKey[DirectoryStore] = web.AppKey("directory_store")
