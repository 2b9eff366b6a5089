"""/healthz (the process answers) and /readyz (what each component reports about itself).

The interface every component uses to take part in /readyz::

    from bridge.health import ComponentStatus
    from bridge.keys import HEALTH

    async def check() -> ComponentStatus:          # cheap: no more than a cache read or one query
        return ComponentStatus("up", {"entries": 1234})     # or "degraded" / "down", with details

    app[HEALTH].register("directory_cache", check)                  # a failure here is not ready
    app[HEALTH].register("freeswitch", check, critical=False)       # reported, never not ready

Register from the component's ``setup(app)`` or the start of its ``cleanup_ctx`` entry.
``details`` must be JSON-serialisable and carry no secret (it is served without
authentication). A check that raises or takes longer than ``HealthRegistry.timeout`` is
reported "down" with the error's type name, so one stuck component cannot hang /readyz.

What ready means, and why:

- ``ready`` (200): every component is "up".
- ``degraded`` (200): nothing critical is "down", but something is "degraded", or a
  non-critical component is "down". Still served: taking this instance out of the load
  balancer would not make the condition better.
- ``not_ready`` (503): a critical component is "down" (the database; a directory cache
  that has not loaded yet). Another instance, or a later retry, can do better.

FreeSWITCH nodes are not critical. A dead node (or all of them) is reported and alerted on,
but it does not make bridge unready: the directory answers from PostgreSQL and the cache
without any Event Socket, and every bridge instance sees the same nodes, so pulling one out
of rotation would only take lookups away from the nodes that are still up.
``freeswitch_status(view.nodes())`` turns the node states into that report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bridge.errors import DatabaseUnavailable
from bridge.keys import DATABASE, HEALTH
from bridge.registrations.model import NodeState, NodeStatus

log = logging.getLogger(__name__)

Status = Literal["up", "degraded", "down"]
Check = Callable[[], Awaitable["ComponentStatus"]]

# Names that would collide with the top-level keys of the /readyz body.
_RESERVED = frozenset({"status", "components"})


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    status: Status
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Entry:
    check: Check
    critical: bool


class HealthRegistry:
    """Components register a check; /readyz runs them all at once and combines the answers."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._entries: dict[str, _Entry] = {}
        self._last: dict[str, Status] = {}

    def register(self, name: str, check: Check, *, critical: bool = True) -> None:
        if name in _RESERVED or name in self._entries:
            raise ValueError(f"health component name taken or reserved: {name!r}")
        self._entries[name] = _Entry(check, critical)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    async def _run(self, name: str, entry: _Entry) -> ComponentStatus:
        try:
            async with asyncio.timeout(self.timeout):
                return await entry.check()
        except TimeoutError:
            return ComponentStatus("down", {"error": f"check took over {self.timeout:g}s"})
        except Exception as exc:
            log.warning("health check failed component=%s error=%s", name, type(exc).__name__)
            return ComponentStatus("down", {"error": type(exc).__name__})

    async def report(self) -> tuple[str, dict[str, Any]]:
        """Run every check: ("ready" | "degraded" | "not_ready", the JSON body)."""
        names = list(self._entries)
        results = await asyncio.gather(*(self._run(n, self._entries[n]) for n in names))
        overall = "ready"
        body: dict[str, Any] = {"status": overall}
        components: dict[str, Any] = {}
        for name, result in zip(names, results, strict=True):
            critical = self._entries[name].critical
            if result.status == "down" and critical:
                overall = "not_ready"
            elif result.status != "up" and overall == "ready":
                overall = "degraded"
            body[name] = result.status
            components[name] = {"status": result.status, "critical": critical, **result.details}
            self._log_change(name, result)
        body["status"] = overall
        body["components"] = components
        return overall, body

    def _log_change(self, name: str, result: ComponentStatus) -> None:
        # One line when a component changes state, not one per probe.
        previous = self._last.get(name)
        if previous != result.status:
            self._last[name] = result.status
            if previous is not None or result.status != "up":
                level = logging.INFO if result.status == "up" else logging.WARNING
                log.log(level, "component %s component=%s was=%s", result.status, name, previous or "-")


def freeswitch_status(nodes: Sequence[NodeStatus], now: float | None = None) -> ComponentStatus:
    """The FreeSWITCH component's report from the registration state's node list.

    "up" when every node is up (or held by another instance: STANDBY), "down" when none is
    reachable, "degraded" in between or while nodes are still connecting.
    """
    clock = time.time() if now is None else now
    healthy = {NodeState.UP, NodeState.STANDBY}
    detail = {
        node.name: {
            "state": node.state.value,
            "for_seconds": round(max(0.0, clock - node.since), 1),
            "seconds_since_heartbeat": (
                None if node.last_heartbeat is None else round(max(0.0, clock - node.last_heartbeat), 1)
            ),
            "registrations": node.registrations,
            **({"last_error": node.last_error} if node.last_error else {}),
        }
        for node in nodes
    }
    good = sum(1 for node in nodes if node.state in healthy)
    down = sum(1 for node in nodes if node.state is NodeState.DOWN)
    status: Status
    if good == len(nodes):
        status = "up"
    elif down == len(nodes):
        status = "down"
    else:
        status = "degraded"
    return ComponentStatus(status, {"nodes": detail})


async def handle_healthz(request: web.Request) -> web.Response:
    # Alive means the event loop answers: no I/O here, so a database outage never gets
    # the process restarted by its supervisor.
    return web.json_response({"status": "ok"})


async def handle_readyz(request: web.Request) -> web.Response:
    overall, body = await request.app[HEALTH].report()
    return web.json_response(body, status=503 if overall == "not_ready" else 200)


def _database_check(app: web.Application) -> Check:
    async def check() -> ComponentStatus:
        database = app.get(DATABASE)
        if database is None:
            return ComponentStatus("down", {"error": "not started"})
        pool = {"pool_open": database.pool.get_size(), "pool_idle": database.pool.get_idle_size()}
        started = time.perf_counter()
        try:
            await database.fetchval("SELECT 1")
        except DatabaseUnavailable as exc:
            return ComponentStatus("down", {"error": str(exc), **pool})
        return ComponentStatus("up", {"latency_seconds": round(time.perf_counter() - started, 4), **pool})

    return check


def setup(app: web.Application) -> None:
    if HEALTH not in app:
        app[HEALTH] = HealthRegistry()
    app[HEALTH].register("database", _database_check(app))
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
