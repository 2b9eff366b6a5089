"""/healthz (the process answers) and /readyz (what each component reports about itself).

The interface every component uses to take part in /readyz::

    from bridge.health import ComponentStatus
    from bridge.keys import HEALTH

    async def check() -> ComponentStatus:          # cheap: no more than a cache read or one query
        return ComponentStatus("up", {"entries": 1234})     # or "degraded" / "down", with details

    app[HEALTH].register("directory_cache", check)                  # a failure here is not ready
    app[HEALTH].register("freeswitch", check, critical=False)       # reported, never not ready

Register from the component's ``setup(app, config)`` or the start of its ``cleanup_ctx`` entry.
The routes and the database's own check are wired by bridge/operations.py.
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
``bridge.registrations.readiness.freeswitch_status`` turns the node states into that report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
