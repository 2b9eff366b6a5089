"""Wiring of the registration guard: ``setup(app)`` adds its objects, its cleanup_ctx and its routes.

POST /directory -> app[LOOKUP_GUARD] (refused / observe) -> Guard (engine.py)
registration events -> app[CHANGE_OBSERVERS] -> Guard.changes
Guard -> BanStore (PostgreSQL guard_bans) -> every instance's Guard.sync
      -> nftables (guard.nft_set), log lines for fail2ban / CrowdSec
GET /api/extensions/{id}/registration_attempts, /api/guard/... (bridge/guard/api.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from bridge.config import Config
from bridge.directory.guarded import LOOKUP_GUARD
from bridge.directory.keys import DIRECTORY_STORE
from bridge.guard.engine import Guard
from bridge.guard.metrics import GuardMetrics
from bridge.guard.nft import NftSet
from bridge.guard.outcome import Reason
from bridge.guard.store import BanStore
from bridge.keys import DATABASE, METRICS
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.observers import CHANGE_OBSERVERS

log = logging.getLogger(__name__)

GUARD: web.AppKey[Guard] = web.AppKey("guard")
_FORGET_EVERY = 300.0  # seconds between sweeps of long-ended bans


async def _poll(guard: Guard) -> None:
    last_sweep = 0.0
    while True:
        await guard.sync()
        if guard.store is not None and time.monotonic() - last_sweep > _FORGET_EVERY:
            last_sweep = time.monotonic()
            with contextlib.suppress(Exception):
                await guard.store.forget_old()
        await asyncio.sleep(guard.config.poll_seconds)


async def _guard_ctx(app: web.Application) -> AsyncIterator[None]:
    guard = app[GUARD]
    config = guard.config
    guard.store = BanStore(
        app[DATABASE],
        base=config.ban_seconds,
        growth=config.ban_growth,
        longest=config.ban_max_seconds,
        forget=config.forget_seconds,
        instance=uuid.uuid4().hex[:12],
    )
    guard.directory = lambda: app[DIRECTORY_STORE]
    guard.registrations = lambda: app.get(REGISTRATIONS)
    if config.nft_set:
        metrics = guard.metrics
        guard.nft = NftSet(
            config.nft_set,
            config.nft_command,
            on_result=lambda ok: metrics.firewall_commands.labels("ok" if ok else "error").inc(),
        )
    await guard.sync()
    if guard.nft is not None:
        now = time.time()
        await guard.nft.setup([(b.ip, b.until - now) for b in guard.bans() if not b.key])
    tasks = [
        asyncio.create_task(guard.run(), name="guard"),
        asyncio.create_task(_poll(guard), name="guard-poll"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # What was queued before shutdown is still judged (bans written) while the pool is open.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(guard.drain(), timeout=5.0)


def setup(app: web.Application, config_all: Config) -> None:
    """Call after the database entry and before the directory endpoint and registrations."""
    config = config_all.guard
    if not config.enabled:
        return
    metrics = GuardMetrics(app[METRICS].registry)
    guard = Guard(config, metrics)
    app[GUARD] = guard
    app[LOOKUP_GUARD] = guard
    app.setdefault(CHANGE_OBSERVERS, []).append(guard.changes)
    metrics.start_at_zero(tuple(reason.value for reason in Reason))
    metrics.queue_depth.set_function(guard.queue_depth)
    for scope in ("source", "extension"):
        metrics.bans_active.labels(scope).set_function(lambda s=scope: guard.active_counts()[s])  # type: ignore[misc]
    metrics.watch(guard.sizes, ("history", "attempts", "sources", "extensions", "trusted"))
    app.cleanup_ctx.append(_guard_ctx)
