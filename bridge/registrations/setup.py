"""Wiring of the registrations job, in two cleanup_ctx entries around the jobs that follow it.

``setup(app, config)`` (before the guard, the directory and the API): the registration
state (app[REGISTRATIONS]), its persistence and metrics subscribed, the Listener built but
not started (app[FREESWITCH]), scrape-time gauges, the /readyz check. The other jobs then
subscribe to the state in their own entries. ``follow(app, config)`` (last): the
listeners start, so no subscriber misses a change; at shutdown they stop first.

    config.freeswitch.nodes -> Listener (hub thread) -> RegistrationState.apply (the one door)
        -> Deltas -> RegistrationStore (leases, PostgreSQL), metrics, the guard,
                     the directory's node flusher, the API's presence
    NodeLocks (one connection, an advisory lock per node) -> which nodes this instance follows
    app[FREESWITCH] = the Listener, as NodeCommands (api / broadcast_api)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.config import Config, DatabaseConfig, FreeSwitchConfig
from bridge.health import ComponentStatus
from bridge.keys import DATABASE, HEALTH, METRICS
from bridge.metrics import Metrics
from bridge.registrations import metrics as gauges
from bridge.registrations import readiness
from bridge.registrations.keys import (
    FREESWITCH,
    INSTANCE,
    REGISTRATION_CLOCK,
    REGISTRATION_STORE,
    REGISTRATIONS,
)
from bridge.registrations.listener import Listener
from bridge.registrations.locks import NodeLocks
from bridge.registrations.model import Delta, NodeState
from bridge.registrations.persist import RegistrationStore
from bridge.registrations.state import RegistrationState

log = logging.getLogger(__name__)

# The listener itself (app[FREESWITCH] is its NodeCommands face), for follow()'s entry.
_LISTENER: web.AppKey[Listener] = web.AppKey("esl_listener")


async def _registrations_ctx(
    config: FreeSwitchConfig, database: DatabaseConfig, app: web.Application
) -> AsyncIterator[None]:
    metrics = app[METRICS]
    state = RegistrationState(
        [n.name for n in config.nodes],
        multiple_registrations=config.multiple_registrations,
        clock=app.get(REGISTRATION_CLOCK, time.time),
        max_bindings_per_node=config.max_bindings_per_node,
        on_refused=lambda node, count: metrics.registration_refused.labels(node, "cap").inc(count),
    )
    listener = Listener(config, state.apply_all, asyncio.get_running_loop(), metrics)
    app[REGISTRATIONS] = state
    state.subscribe(lambda delta: _count_reconcile(delta, metrics))
    app[FREESWITCH] = app[_LISTENER] = listener
    app[INSTANCE] = uuid.uuid4().hex[:12]
    gauges.watch(metrics.registry, state)

    async def report() -> ComponentStatus:
        return readiness.freeswitch_status(
            state.nodes(), skews=listener.clock_skews, skew_limit=config.clock_skew_limit
        )

    async def no_source() -> ComponentStatus:
        return ComponentStatus("degraded", {"nodes": {}, "error": readiness.NO_NODES})

    # Not critical: lookups and the API keep working without the Event Socket (docs/operations.md).
    # Without any node, say so: the API's statuses then have no source ("unknown").
    app[HEALTH].register("freeswitch", report if config.nodes else no_source, critical=False)
    # Its own connection, never a pooled one: the session's life is the locks' life. Its own
    # thread confirms them and moves the hub's deadline, whatever this loop is busy with.
    locks = NodeLocks(
        database.url or "", config, connect_timeout=database.connect_timeout, on_confirmed=listener.confirm
    )
    store = RegistrationStore(
        app[DATABASE], state, config, locks=locks, instance=app[INSTANCE],
        follow=listener.follow, unfollow=listener.unfollow,
        unfollowed=listener.unfollowed, metrics=metrics,
    )
    app[REGISTRATION_STORE] = store
    yield


async def _follow_ctx(config: FreeSwitchConfig, app: web.Application) -> AsyncIterator[None]:
    listener, store = app[_LISTENER], app[REGISTRATION_STORE]
    task: asyncio.Task[None] | None = None
    if config.nodes:
        await listener.start()
        task = asyncio.create_task(store.run(), name="registrations-sync")
    try:
        yield
    finally:
        # Join the hub first: its last batch of changes is handed over with
        # call_soon_threadsafe, one loop turn lets it reach the listener's queue, and
        # apply_queued() the state. Then stop
        # syncing (a flush cut by the cancel puts its batch back), write what is pending
        # and free the locks.
        await listener.stop()
        await asyncio.sleep(0)
        listener.apply_queued()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.release()
        for status in app[REGISTRATIONS].nodes():
            if status.state is NodeState.UP:
                log.info("registrations: stopped following node=%s", status.name)


def _count_reconcile(delta: Delta, metrics: Metrics) -> None:
    """A reconcile that changed something found bindings the events had missed."""
    if not delta.reconciled:
        return
    metrics.registration_reconcile_fixes.labels(delta.node, "upserted").inc(len(delta.upserted))
    metrics.registration_reconcile_fixes.labels(delta.node, "removed").inc(len(delta.removed))
    log.info(
        "registrations: reconciled with sofia node=%s upserted=%d removed=%d",
        delta.node,
        len(delta.upserted),
        len(delta.removed),
    )


def setup(app: web.Application, config: Config) -> None:
    """After the database (its leases and rows live there), before every job that subscribes
    to the state or sends commands through app[FREESWITCH]."""
    app.cleanup_ctx.append(functools.partial(_registrations_ctx, config.freeswitch, config.database))


def follow(app: web.Application, config: Config) -> None:
    """Last in create_app: start the listeners once every subscriber is in place."""
    app.cleanup_ctx.append(functools.partial(_follow_ctx, config.freeswitch))
