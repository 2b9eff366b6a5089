"""The embedded PostgreSQL on /readyz and /metrics, read from the supervisor's status file.

Every serving process (each worker included) reads ``pgdata.status`` when asked: no
shared memory, and a status whose supervisor is gone is reported as such, never as up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge.embedded.supervisor import SupervisorStatus
from bridge.health import ComponentStatus
from bridge.keys import HEALTH, METRICS

COMPONENT = "embedded_postgres"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def current(path: Path) -> tuple[SupervisorStatus | None, str | None]:
    """The status, and why it cannot be trusted (None when it can)."""
    status = SupervisorStatus.read(path)
    if status is None:
        return None, "no supervisor status"
    if not _alive(status.supervisor_pid):
        return status, "the supervising bridge process is gone"
    return status, None


def component_status(path: Path, now: float | None = None) -> ComponentStatus:
    status, problem = current(path)
    if status is None or problem is not None:
        return ComponentStatus("down", {"error": problem})
    clock = time.time() if now is None else now
    details = {
        "state": status.state,
        "restarts": status.restarts,
        "for_seconds": round(max(0.0, clock - status.since), 1),
        **({"last_error": status.last_error} if status.last_error else {}),
    }
    return ComponentStatus("up" if status.state == "running" else "down", details)


class _EmbeddedCollector(Collector):
    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterable[Metric]:
        status, problem = current(self.path)
        up = GaugeMetricFamily(
            "bridge_embedded_postgres_up",
            "1 while the supervised embedded PostgreSQL runs, 0 while it is down or restarting",
        )
        running = status is not None and problem is None and status.state == "running"
        up.add_metric([], 1.0 if running else 0.0)
        yield up
        restarts = CounterMetricFamily(
            "bridge_embedded_postgres_restarts",
            "Times the supervisor restarted the embedded PostgreSQL after it died",
        )
        restarts.add_metric([], float(status.restarts if status is not None else 0))
        yield restarts


def setup(app: web.Application, status_path: Path) -> None:
    """Report the embedded server: on /readyz (not critical: the database check is) and /metrics."""

    async def check() -> ComponentStatus:
        return component_status(status_path)

    app[HEALTH].register(COMPONENT, check, critical=False)
    app[METRICS].registry.register(_EmbeddedCollector(status_path))
