"""Shared helpers for the registration tests: a listener harness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bridge.config import FreeSwitchConfig, FreeSwitchNode
from bridge.metrics import Metrics
from bridge.registrations.events import Change
from bridge.registrations.listener import Listener
from bridge.registrations.state import RegistrationState
from tests.fakes.esl_server import FakeEslServer


def fs_config(*servers: tuple[str, FakeEslServer], **settings: float) -> FreeSwitchConfig:
    nodes = tuple(FreeSwitchNode.from_url(server.url(name)) for name, server in servers)
    values: dict[str, float] = {
        "heartbeat_timeout": 30.0,
        "reconnect_initial": 0.02,
        "reconnect_max": 0.1,
        "command_timeout": 1.0,
    }
    values.update(settings)
    return FreeSwitchConfig(nodes=nodes, **values)  # type: ignore[arg-type]


@dataclass
class Harness:
    state: RegistrationState
    listener: Listener
    metrics: Metrics
    batches: list[list[Change]] = field(default_factory=list)


@asynccontextmanager
async def following(
    config: FreeSwitchConfig, clock: Callable[[], float] = time.time
) -> AsyncIterator[Harness]:
    state = RegistrationState([n.name for n in config.nodes], clock=clock)
    metrics = Metrics()
    harness: Harness

    def sink(batch: list[Change]) -> None:
        harness.batches.append(batch)
        state.apply_all(batch)

    listener = Listener(config, sink, asyncio.get_running_loop(), metrics)
    harness = Harness(state, listener, metrics)
    await listener.start()
    try:
        for node in config.nodes:
            listener.follow(node.name)
        yield harness
    finally:
        await listener.stop()

