"""Lookup latency and idle CPU with 100,000 bans stored against none, in one run (issue 21 item 5).

Run by hand (not a test). Two bridges on one embedded PostgreSQL, one after the other:

  none       the guard on, the ban table empty
  100k-bans  the same with --bans active bans in guard_bans (half IPv4, half IPv6 in distinct
             /64s, so none widens), guard.max_bans raised above them so none is evicted

Each is measured the way FreeSWITCH asks (bench/freeswitch_shaped.py: warm sip_auth lookups,
a new TCP connection each, at 1 and 16 in flight), then left idle for --idle seconds while
its CPU time is read from /proc: the cost of holding the bans and polling the table
(guard.poll_seconds = 1) with no traffic. The measuring client's own source (ip=127.0.0.1 in
the forms) is allow-listed, as in bench/guard_scan.py: every lookup still takes the ban probe.

    .venv/bin/python bench/guard_bans.py [--duration 5] [--in-flight 1,16] [--bans 100000] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402
import freeswitch_shaped as shaped  # noqa: E402

from bridge.embedded.server import EmbeddedPostgres  # noqa: E402

_SEED = """
INSERT INTO guard_bans (ip, key, rule, offences, banned_at, until, instance)
SELECT CASE WHEN n % 2 = 0
            THEN format('10.%s.%s.%s', (n >> 16) & 255, (n >> 8) & 255, n & 255)
            ELSE format('2001:db8:%s:%s::1', to_hex((n >> 16) + 1), to_hex(n & 65535)) END,
       '', 'unknown_users', 1, now(), now() + interval '1 day', 'bench'
FROM generate_series(1, $1::int) AS n
ON CONFLICT DO NOTHING
"""


async def set_bans(dsn: str, count: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM guard_bans")
        if count:
            await conn.execute(_SEED, count)
        await conn.execute("ANALYZE guard_bans")
        return int(await conn.fetchval("SELECT count(*) FROM guard_bans WHERE until > now()"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--in-flight", default="1,16")
    parser.add_argument("--bans", type=int, default=100_000)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--warm-users", type=int, default=2_000)
    parser.add_argument("--bans-first", action="store_true", help="measure the stored bans first")
    args = parser.parse_args()
    levels = [int(n) for n in args.in_flight.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bridge-guard-bans-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    settings = ["guard.allow=127.0.0.1/32", f"guard.max_bans={max(args.bans, 1) * 2}"]
    try:
        asyncio.run(bench.seed(dsn, max(args.warm_users, 1000)))
        asyncio.run(shaped.settle(dsn))
        scenarios = [("none", 0), (f"{args.bans // 1000}k-bans", args.bans)]
        for name, count in reversed(scenarios) if args.bans_first else scenarios:
            stored = asyncio.run(set_bans(dsn, count))
            port = bench.free_port()
            server = bench.bridge(dsn, port, 1, *settings)
            try:
                requests = shaped.Requests(port, bench.FIRST, args.warm_users)
                shaped.fill(port, requests)
                for level in levels:
                    result = shaped.run(
                        name, port, requests, level, args.duration, shuffle=False, pid=server.pid
                    )
                    print(result.line(), f" RSS {bench.rss_mb(server.pid):.0f} MiB", flush=True)
                time.sleep(2)  # the last lookups' guard work done
                before = bench.cpu_seconds(server.pid)
                time.sleep(args.idle)
                idle = (bench.cpu_seconds(server.pid) - before) / args.idle * 100
                active = asyncio.run(bench.metric(port, "bridge_guard_bans_active")).replace("\n", "; ")
                print(
                    f"   {name}: {stored} bans stored; idle CPU {idle:.2f} % of a core; {active}", flush=True
                )
            finally:
                bench.stop(server)
    finally:
        pg.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs ({bench.cpu_model()}), shared; {args.duration:g} s per run")


if __name__ == "__main__":
    main()
