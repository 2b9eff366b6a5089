"""Provisioning at scale: POST /api/extensions/muti_add of 10,000 extensions, and directory
lookup latency (new connection per lookup, as mod_xml_curl does) before and while it runs.

Run by hand (not a test):

    .venv/bin/python bench/provision_bench.py [--rows 10000] [--warm-users 10000] [--in-flight 1]
        [--repeat 3]

Each repeat creates a fresh range of --rows extensions in one muti_add (one transaction;
the trigger then announces {"all": true}, so every cached user is dropped once) while
lookups of --warm-users cached users run beside it. Prints the muti_add time and the
lookup p50/p99/max before and during.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402
import freeswitch_shaped as shaped  # noqa: E402

from bridge.embedded.server import EmbeddedPostgres  # noqa: E402
from bridge.hashes import login_sha1  # noqa: E402

ADMIN_PASSWORD = "Bench!pass1"


async def add_admin(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        user_id: int = await conn.fetchval(
            "INSERT INTO users (login, name, domain, salt, sha1, is_super) VALUES"
            " ('root', 'root', 'xswitch.test', '$1$benchslt', $1, 1) RETURNING id",
            login_sha1("root", ADMIN_PASSWORD, "$1$benchslt"),
        )
        return user_id
    finally:
        await conn.close()


async def muti_add(port: int, user_id: int, start: int, rows: int) -> tuple[float, int]:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/api"
        async with session.post(f"{url}/sessions", json={"login": "root", "password": ADMIN_PASSWORD}) as r:
            token = (await r.json())["token"]
        body = {
            "extns_start": start,
            "extns_end": start + rows - 1,
            "password": "Bench9pass",
            "context": "default",
            "user_id": user_id,
        }
        t0 = time.perf_counter()
        async with session.post(
            f"{url}/extensions/muti_add",
            data=json.dumps(body),
            headers={"X-XTRA-AUTH-ID": token},
            timeout=aiohttp.ClientTimeout(total=120),
        ) as r:
            answer = await r.json()
            elapsed = time.perf_counter() - t0
        assert r.status == 200, answer
        return elapsed, len(answer["data"])


def _muti_add_sync(port: int, user_id: int, start: int, rows: int) -> tuple[float, int]:
    return asyncio.run(muti_add(port, user_id, start, rows))


async def during(
    port: int, requests: shaped.Requests, in_flight: int, *, user_id: int, start: int, rows: int
) -> tuple[tuple[float, int], list[float], int]:
    """Lookups while one muti_add runs: (muti_add seconds, created, latencies)."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0
    done = asyncio.Event()
    source = requests.cycle(False)

    async def client() -> None:
        nonlocal failures
        while not done.is_set():
            t0 = time.perf_counter()
            try:
                await shaped.lookup(loop, port, next(source))
            except (shaped.BadAnswer, OSError):
                failures += 1
                continue
            latencies.append(time.perf_counter() - t0)

    clients = [asyncio.create_task(client()) for _ in range(in_flight)]
    await asyncio.sleep(0.5)
    try:
        # In another process: parsing the 10,000-row answer would otherwise stall this
        # process's lookups (~100 ms) and be counted as bridge's latency.
        with ProcessPoolExecutor(1) as pool:
            result = await loop.run_in_executor(pool, _muti_add_sync, port, user_id, start, rows)
        await asyncio.sleep(0.5)  # the reloads after the {"all": true} flush
    finally:
        done.set()
        await asyncio.gather(*clients)
    return result, sorted(latencies), failures


def figures(name: str, latencies: list[float], failures: int) -> str:
    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return (
        f"{name:<22} p50 {pct(50):6.2f} ms  p99 {pct(99):6.2f} ms  max {latencies[-1] * 1000:7.2f} ms"
        f"  n={len(latencies)} failures={failures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--warm-users", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bridge-provision-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    try:
        asyncio.run(bench.seed(dsn, args.warm_users))
        user_id = asyncio.run(add_admin(dsn))
        asyncio.run(shaped.settle(dsn))
        port = bench.free_port()
        server = bench.bridge(dsn, port, 1, f"api.max_bulk_rows={args.rows}")
        try:
            requests = shaped.Requests(port, bench.FIRST, args.warm_users)
            shaped.fill(port, requests)
            base = shaped.run("before", port, requests, args.in_flight, 5.0, shuffle=False, pid=None)
            print(figures(f"lookups before (x{args.in_flight})", base.latencies, base.failures), flush=True)
            for n in range(args.repeat):
                start = 500_000 + n * args.rows
                (seconds, created), latencies, failures = asyncio.run(
                    during(port, requests, args.in_flight, user_id=user_id, start=start, rows=args.rows)
                )
                print(f"muti_add #{n + 1}: {created} extensions in {seconds:.2f} s", flush=True)
                print(figures(f"lookups during #{n + 1}", latencies, failures), flush=True)
        finally:
            bench.stop(server)
    finally:
        pg.remove()
    print(f"\nmachine: {os.cpu_count()} CPUs ({bench.cpu_model()}), shared; bridge --workers 1")


if __name__ == "__main__":
    main()
