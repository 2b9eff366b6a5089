"""Read metric samples through the app's registry (never a metric's private ``_value``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from bridge.keys import METRICS


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The value of sample ``name`` with ``labels``; 0.0 if it was never observed."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def app_sample(app: web.Application, name: str, **labels: str) -> float:
    """``sample`` from the running app's own registry."""
    return sample(app[METRICS].registry, name, **labels)
