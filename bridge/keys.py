"""The web.AppKeys every job shares: config, database, metrics, health (a job's own keys live in it)."""

from __future__ import annotations

from aiohttp import web

from bridge.config import Config
from bridge.db import Database
from bridge.health import HealthRegistry
from bridge.metrics import Metrics

CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
DATABASE: web.AppKey[Database] = web.AppKey("database", Database)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
# Components register their /readyz check here (see bridge/health.py).
HEALTH: web.AppKey[HealthRegistry] = web.AppKey("health", HealthRegistry)
