"""The FreeSWITCH component's /readyz report, from the registration state's node list (pure)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from bridge.health import ComponentStatus, Status
from bridge.registrations.model import NodeState, NodeStatus

NO_NODES = "no FreeSWITCH configured (freeswitch.nodes): registration status has no source"


def freeswitch_status(
    nodes: Sequence[NodeStatus],
    now: float | None = None,
    *,
    skews: Mapping[str, float] | None = None,
    skew_limit: float = 60.0,
) -> ComponentStatus:
    """The FreeSWITCH component's report from the registration state's node list.

    "up" when every node is up (or held by another instance: STANDBY), "down" when none is
    reachable, "degraded" in between or while nodes are still connecting, or when a node's
    clock (``skews``: its Event-Date minus ours) is off by more than ``skew_limit``.
    """
    off = {name: skew for name, skew in (skews or {}).items() if abs(skew) > skew_limit}
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
            **({"clock_skew_seconds": round(off[node.name], 1)} if node.name in off else {}),
        }
        for node in nodes
    }
    good = sum(1 for node in nodes if node.state in healthy)
    down = sum(1 for node in nodes if node.state is NodeState.DOWN)
    status: Status
    if good == len(nodes) and not off:
        status = "up"
    elif down == len(nodes):
        status = "down"
    else:
        status = "degraded"
    return ComponentStatus(status, {"nodes": detail})
