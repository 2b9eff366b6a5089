"""Wiring of the registrations job: ``setup(app)`` adds its cleanup_ctx and scrape-time gauges.

    config.freeswitch.nodes -> Listener (hub thread) -> RegistrationState (app[REGISTRATIONS])
                                                     -> RegistrationStore (leases, PostgreSQL)
    app[FREESWITCH] = the Listener, as NodeCommands (api / broadcast_api)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.health import ComponentStatus, freeswitch_status
from bridge.keys import (
    CONFIG,
    DATABASE,
    FREESWITCH,
    HEALTH,
    INSTANCE,
    METRICS,
    REGISTRATION_CLOCK,
    REGISTRATION_STORE,
    REGISTRATIONS,
)
from bridge.registrations.listener import Listener
from bridge.registrations.model import NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState

log = logging.getLogger(__name__)

NO_NODES = "no FreeSWITCH configured (freeswitch.nodes): registration status has no source"

async def _registrations_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG].freeswitch
    metrics = app[METRICS]
    state = RegistrationState(
        [n.name for n in config.nodes],
        multiple_registrations=config.multiple_registrations,
        clock=app.get(REGISTRATION_CLOCK, time.time),
    )
    listener = Listener(config, state.apply_all, asyncio.get_running_loop(), metrics)
    app[REGISTRATIONS] = state
    app[FREESWITCH] = listener
    app[INSTANCE] = uuid.uuid4().hex[:12]
    metrics.watch_registrations(state)

    async def report() -> ComponentStatus:
        return freeswitch_status(state.nodes())

    async def no_source() -> ComponentStatus:
        return ComponentStatus("degraded", {"nodes": {}, "error": NO_NODES})

    # Not critical: lookups and the API keep working without the Event Socket (README).
    # Without any node, say so: the API's statuses then have no source ("unknown").
    app[HEALTH].register("freeswitch", report if config.nodes else no_source, critical=False)
    store = RegistrationStore(
        app[DATABASE], state, config, instance=app[INSTANCE],
        follow=listener.follow, unfollow=listener.unfollow, metrics=metrics,
    )
    app[REGISTRATION_STORE] = store
    task: asyncio.Task[None] | None = None
    if config.nodes:
        await listener.start()
        task = asyncio.create_task(store.run(), name="registrations-sync")
    try:
        yield
    finally:
        # Stop syncing, write what is pending and hand the leases over, then join the hub.
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.release()
        await listener.stop()
        for status in state.nodes():
            if status.state is NodeState.UP:
                log.info("registrations: stopped following node=%s", status.name)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_registrations_ctx)
