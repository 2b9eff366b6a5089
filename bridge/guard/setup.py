"""Wiring of the registration guard: ``setup(app)`` adds its objects, its cleanup_ctx and its routes.

POST /directory -> app[LOOKUP_GUARD] (refused / observe) -> Guard (engine.py)
registration state Deltas (subscribed here) -> Guard.on_delta
Guard -> BanStore (PostgreSQL guard_bans) -> every instance's Guard.sync
      -> nftables (guard.nft_set), log lines for fail2ban / CrowdSec
GET /api/extensions/{id}/registration_attempts, /api/guard/... (bridge/guard/api.py)
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

from bridge.config import Config, GuardConfig
from bridge.directory.extension import Extension
from bridge.directory.guarded import LOOKUP_GUARD
from bridge.directory.keys import DIRECTORY_STORE
from bridge.guard.engine import Guard, ReadExtension
from bridge.guard.metrics import GuardMetrics
from bridge.guard.nft import NftSet
from bridge.guard.outcome import Reason
from bridge.guard.store import BanStore
from bridge.keys import DATABASE, METRICS
from bridge.registrations.keys import REGISTRATIONS

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


def _directory_reader(app: web.Application) -> ReadExtension:
    """The directory's store, which is built after the guard (the directory endpoint needs the
    guard at construction): the guard re-reads a record only off the lookup path, by then."""

    async def read(domain: str, extn: str) -> Extension | None:
        return await app[DIRECTORY_STORE].get(domain, extn)

    return read


async def _guard_ctx(config: GuardConfig, app: web.Application) -> AsyncIterator[None]:
    metrics = GuardMetrics(app[METRICS].registry)
    nft = None
    if config.nft_set:
        nft = NftSet(
            config.nft_set,
            config.nft_command,
            on_result=lambda ok: metrics.firewall_commands.labels("ok" if ok else "error").inc(),
        )
    store = BanStore(
        app[DATABASE],
        base=config.ban_seconds,
        growth=config.ban_growth,
        longest=config.ban_max_seconds,
        forget=config.forget_seconds,
        instance=uuid.uuid4().hex[:12],
    )
    state = app[REGISTRATIONS]  # the registrations job's entry ran first
    guard = Guard(
        config, metrics, store=store, read_extension=_directory_reader(app), registrations=state, nft=nft
    )
    app[GUARD] = guard
    app[LOOKUP_GUARD] = guard
    state.subscribe(guard.on_delta)
    metrics.start_at_zero(tuple(reason.value for reason in Reason))
    metrics.queue_depth.set_function(guard.queue_depth)
    for scope in ("source", "extension"):
        metrics.bans_active.labels(scope).set_function(lambda s=scope: guard.active_counts()[s])  # type: ignore[misc]
    metrics.watch(guard.sizes, ("history", "attempts", "sources", "extensions", "trusted"))
    await guard.sync()
    if nft is not None:
        now = time.time()
        await nft.setup([(b.ip, b.until - now) for b in guard.bans() if not b.key])
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
    """After the registrations job (whose state it follows), before the directory (whose
    endpoint it guards)."""
    config = config_all.guard
    if config.enabled:
        app.cleanup_ctx.append(functools.partial(_guard_ctx, config))
