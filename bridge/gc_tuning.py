"""CPython's garbage collector, set for a server that keeps a large cache and answers fast.

Measured under wrk (BENCHMARKS-HISTORY.md, "Second session"): with CPython's defaults a warm
bridge ran a full (generation 2) collection every few seconds, each walking every tracked
object, the import-time heap (~50,000 objects) and the cache (~6 per cached user)
alike, for 50-75 ms during which no lookup is answered: that pause was bridge's p99. Two
changes, applied once the app has started (``serving``):

* ``gc.freeze()`` moves everything alive at that point (modules, the app, the pool) to
  the permanent generation, which collections never walk. Those objects live as long
  as the process; freezing them loses nothing (a frozen object is still freed by
  reference counting when it is dropped; only a cycle among them would stay).
* The young-generation threshold goes from 700 to GEN0_THRESHOLD allocations. Every
  young collection promotes whatever requests are in flight at that moment; promoted
  objects count toward the next full collection even though they die a moment later.
  Fewer young collections, fewer false promotions, far fewer full collections.

What the directory warm-up loads right after start-up (a whole directory, up to
``cache_size`` users, ~6 tracked objects each) is frozen the same way when it is done
(``refreeze``): left tracked, one full collection over 200,000 cached users walks them for
0.7-1.2 s (BENCHMARKS.md, "Kept tricks"), a stall every blocked SIP thread would wait out.
Entries cached later by single lookups stay tracked; each collection's duration is
exported as ``bridge_gc_pause_seconds``, so a pause that matters shows up there.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from aiohttp import web
from prometheus_client import Histogram

from bridge.keys import METRICS

GEN0_THRESHOLD = 10_000


def settle() -> None:
    """Collect once, freeze what survives, and space the young collections out."""
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def refreeze() -> None:
    """Freeze what a bulk load built since, in a process that ``settle`` tuned; else nothing.

    No collection first (that walk is the pause this avoids): a cycle that is garbage at
    this moment stays allocated for good, a bounded cost next to a second-long stall.
    """
    if gc.get_freeze_count() > 0:  # settled: the serving process, never a test process
        gc.freeze()


def watch_pauses(pauses: Histogram) -> None:
    """Observe every collection's duration, by generation: the stalls lookups wait out."""
    children = {generation: pauses.labels(str(generation)) for generation in range(3)}
    started = 0.0

    def callback(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            children[info["generation"]].observe(time.perf_counter() - started)

    gc.callbacks.append(callback)


async def _settle_on_startup(app: web.Application) -> None:
    watch_pauses(app[METRICS].gc_pause_seconds)  # first: settle's own full collection counts
    settle()


def serving(app: web.Application) -> web.Application:
    """``app``, set to tune the collector once its start-up has run (the process serves it).

    Only the process entry point calls this: a test process building many apps keeps
    CPython's defaults.
    """
    app.on_startup.append(_settle_on_startup)
    return app
