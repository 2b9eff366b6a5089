"""Memory of the directory cache as ever more distinct extensions pass through it.

    .venv/bin/python bench/directory_memory.py [--extensions 1000000] [--cache-size 200000]

Pushes ``--extensions`` distinct (domain, extn) keys through the real ``CachedStore`` (LRU,
``directory.cache_size`` = ``--cache-size``) in front of a backend that builds each
``Extension`` with ``Extension.from_row`` from a row shaped like an XUI row (distinct
string objects for the values that differ per row, as asyncpg hands them out). Prints the
process RSS and the cache's length every 100,000 keys: memory must level off once the
cache is full, whatever the number of extensions behind it. No database: this measures
the bound, not PostgreSQL. Also prints the objects the garbage collector tracks and how
long one full collection takes at that size: the pause a serving process takes whenever
CPython decides to walk the whole heap (bridge.gc_tuning).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bridge.directory.extension import Extension  # noqa: E402
from bridge.directory.store.cache import CachedStore  # noqa: E402

DOMAIN = "bench.xswitch.test"


class SyntheticRows:
    """A DirectoryStore whose rows look like XUI's: numbers, names, hashes, defaults."""

    def __init__(self) -> None:
        self.template: dict[str, Any] = {name: None for name in Extension.__dataclass_fields__}
        self.template.update(
            type="SIP",
            context="context-1",
            user_id=1,
            call_limit=1,
            called_limit=1,
            call_authority=4,
            caller_display=1,
            priority="99",
            display_order="0",
            deleted_at=None,
            user_login="admin",
            user_disabled="0",
            user_locked="false",
            user_deleted_at=None,
            boss_extn=False,
        )

    async def get(self, domain: str, extn: str) -> Extension | None:
        row = dict(self.template)
        digest = hashlib.md5(f"{extn}:{domain}:pw".encode()).hexdigest()
        row.update(
            id=int(extn),
            extn=extn,
            domain=domain,
            name=f"Extension {extn}",
            password=f"Pw{extn}x9",
            ha1=digest,
            ha1b=digest[::-1],
            cid_name=f"Extension {extn}",
            cid_number=str(extn),
        )
        return Extension.from_row(row)

    async def domain(self, domain: str) -> Sequence[Extension]:
        return []

    async def domains(self) -> Sequence[str]:
        return [DOMAIN]


async def run(extensions: int, cache_size: int) -> None:
    process = psutil.Process()
    cache = CachedStore(SyntheticRows(), capacity=cache_size, negative_ttl=2.0)
    gc.collect()
    base = process.memory_info().rss
    print(f"cache_size={cache_size:,} extensions={extensions:,}")
    print(
        f"{'keys seen':>10} {'cached':>9} {'RSS MiB':>9} {'growth MiB':>11} {'bytes/entry':>12}"
        f" {'tracked objects':>16} {'full GC ms':>10}"
    )
    step = 100_000
    for start in range(0, extensions, step):
        for n in range(start, min(start + step, extensions)):
            await cache.get(DOMAIN, str(1_000_000 + n))
        started = time.perf_counter()
        gc.collect()  # a full collection: what a serving process pauses for (bridge.gc_tuning)
        full_gc_ms = (time.perf_counter() - started) * 1000
        tracked = len(gc.get_objects())
        rss = process.memory_info().rss
        growth = rss - base
        print(
            f"{start + step:>10,} {len(cache):>9,} {rss / 2**20:>9.1f} {growth / 2**20:>11.1f}"
            f" {growth / max(len(cache), 1):>12,.0f} {tracked:>16,} {full_gc_ms:>10.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extensions", type=int, default=1_000_000)
    parser.add_argument("--cache-size", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(run(args.extensions, args.cache_size))


if __name__ == "__main__":
    main()
