"""What each directory speed trick costs or buys, per call, in process (no HTTP, no database).

    .venv/bin/python bench/tricks.py                      # this tree
    PYTHONPATH=/path/to/other/tree .venv/bin/python bench/tricks.py   # another tree, to compare

Times the steps the redesign of issue 14 touched, through the public names both the old and
the new tree have: ``Extension.from_row`` on a row typed as asyncpg returns it (once per cache
miss), a rendered-answer memo hit (``AnswerMemo.get``, every warm lookup), a cache hit
(``CachedStore.get``), the four metric moves of a lookup (lookups counter, duration histogram,
cache and memo counters), and one full garbage collection with ``--users`` extensions cached
and their answers memoised (what a lookup waits out when CPython walks the whole heap).
Best of 5 runs; the machine is shared, so compare trees in the same session.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if not any(Path(p).resolve() != ROOT and (Path(p) / "bridge").is_dir() for p in sys.path if p):
    sys.path.insert(0, str(ROOT))

import bridge  # noqa: E402
from bridge.directory.answers import AnswerMemo, Rendered  # noqa: E402
from bridge.directory.form import parse_form  # noqa: E402
from bridge.directory.store.cache import CachedStore  # noqa: E402
from bridge.metrics import Metrics  # noqa: E402

try:
    from bridge.directory.extension import Extension
except ImportError:  # the tree before issue 14
    from bridge.records import Extension  # type: ignore[no-redef]

FORM = ROOT / "tests/fixtures/freeswitch/xml_curl/register_1001.form"

# A row as asyncpg gives it for the schema's columns (INTEGER -> int, VARCHAR -> str, ...).
ROW: dict[str, Any] = {
    "id": 1,
    "extn": "1001",
    "domain": "xswitch.test",
    "name": "1001",
    "password": "pw",
    "ha1": "a" * 32,
    "ha1b": "b" * 32,
    "vm_password": "",
    "cid_name": "",
    "cid_number": "",
    "type": "SIP",
    "context": "default",
    "user_id": 1,
    "call_transfer_type": 0,
    "voicemail": 0,
    "ringback": "",
    "timeout": "",
    "enable_ringback": 0,
    "auto_record": 0,
    "call_limit": 1,
    "called_limit": 1,
    "call_authority": 4,
    "intercept": 0,
    "group_name": "",
    "force_insert": 0,
    "force_breakdown": 0,
    "eavesdrop": 0,
    "extn_cidr": "",
    "priority": "99",
    "weblogin_disabled": 0,
    "sync_enabled": 0,
    "display_order": "0",
    "disabled": 0,
    "enable_srtp": 0,
    "forced_insert": 0,
    "eavesdropped": 0,
    "intercepted": 0,
    "intercepted_group_name": "",
    "codec": "",
    "mac_address": "",
    "enable_cb_onbusy": "",
    "caller_display": 1,
    "hotline_number": "",
    "hotline_type": "",
    "hotline_address": "",
    "enable_hotline": 0,
    "boss_extn": False,
    "secretary_extn": "",
    "dtmf_type": 0,
    "enable_extn_time_recurrences": 0,
    "enable_t38": 0,
    "forced_breakdown": 0,
    "connect_phone": "",
    "description": "",
    "deleted_at": None,
    "user_login": "u",
    "user_disabled": "0",
    "user_locked": "false",
    "user_deleted_at": None,
}


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    for _ in range(min(rounds, 1000)):
        fn()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, time.perf_counter() - started)
    return best / rounds * 1e6


class _Backend:
    def __init__(self, e: Any) -> None:
        self.e = e

    async def get(self, domain: str, extn: str) -> Any:
        return self.e

    async def domain(self, domain: str) -> Any:
        return []

    async def domains(self) -> Any:
        return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--users", type=int, default=200_000)
    args = parser.parse_args()
    print(f"tree: {Path(bridge.__file__).parent.parent}")

    from_row = per_call_us(lambda: Extension.from_row(ROW), args.rounds)
    print(f"Extension.from_row (cache miss)    {from_row:7.2f} µs")

    request = parse_form(FORM.read_bytes())
    e = Extension.from_row(ROW)
    memo = AnswerMemo(10)
    memo.put(request, e, Rendered(b"<document/>", True, "found"))
    fresh = parse_form(FORM.read_bytes())  # a new request object, as each lookup parses one
    assert memo.get(fresh, e) is not None
    memo_hit_us = per_call_us(lambda: memo.get(fresh, e), args.rounds)
    print(f"AnswerMemo.get hit                 {memo_hit_us:7.2f} µs")

    loop = asyncio.new_event_loop()
    store = CachedStore(_Backend(e), capacity=10, negative_ttl=1.0)
    store.set_coherent(True)
    loop.run_until_complete(store.get("xswitch.test", "1001"))
    loop.run_until_complete(asyncio.sleep(0))

    async def hits(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await store.get("xswitch.test", "1001")
        return time.perf_counter() - started

    best = min(loop.run_until_complete(hits(args.rounds)) for _ in range(5))
    print(f"CachedStore.get hit                {best / args.rounds * 1e6:7.2f} µs")

    metrics = Metrics()
    found = metrics.lookups.labels("sip_auth", "found")
    seconds = metrics.lookup_seconds.labels("sip_auth")
    cache_hit = metrics.cache_requests.labels("hit")
    memo_hit = metrics.answer_cache_requests.labels("hit")

    def moves() -> None:
        found.inc()
        seconds.observe(0.0003)
        cache_hit.inc()
        memo_hit.inc()

    print(f"4 metric moves of a lookup         {per_call_us(moves, args.rounds):7.2f} µs")

    # The warm process: start-up heap frozen and young collections spaced out (what a
    # serving process does, gc_tuning/heap settle()), then --users cached one by one, as
    # cold lookups fill the cache: count the full collections that filling sets off.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    pauses: list[float] = []
    started_at = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started_at[0] = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - started_at[0])

    gc.callbacks.append(on_gc)
    big = CachedStore(_Backend(None), capacity=args.users, negative_ttl=1.0)
    big_memo = AnswerMemo(args.users)
    for n in range(args.users):
        row = dict(ROW, id=n, extn=str(10000 + n))
        ext = Extension.from_row(row)
        big._store(("xswitch.test", ext.extn), ext)
        req = parse_form(FORM.read_bytes().replace(b"1001", str(10000 + n).encode()))
        big_memo.put(req, ext, Rendered(b"<document/>", True, "found"))
    gc.callbacks.remove(on_gc)
    print(
        f"filling {args.users} users: {len(pauses)} full collections, longest "
        f"{max(pauses, default=0) * 1e3:.1f} ms, total {sum(pauses) * 1e3:.1f} ms"
    )
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        gc.collect()
        timings.append(time.perf_counter() - started)
    print(
        f"full collection, {args.users} users cached {min(timings) * 1e3:7.1f} ms "
        f"(tracked objects {len(gc.get_objects())})"
    )


if __name__ == "__main__":
    main()
