"""A site ten times bigger (issue 25): 1,000,000 extensions in PostgreSQL.

    .venv/bin/python bench/scale_directory.py [--extensions 1000000] [--domain-size 100000]
        [--other-domains 900] [--duration 8] [--in-flight 1,16] [--only bare,bare-db,warm,cold]
        [--sample 100000] [--rounds 10]

Loads ``--extensions`` rows into an embedded PostgreSQL in one ``INSERT ... SELECT`` over
``generate_series``: one domain of ``--domain-size`` (xswitch.test, the captured forms'
domain, extensions 100000...) and the rest spread over ``--other-domains`` domains. Then:

1. ``bridge serve`` with its defaults (``directory.cache_size`` 200,000, warm start on):
   time from start to the warm start's end (``/readyz``), and bridge's RSS before and after.
2. Lookups the way mod_xml_curl sends them (bench/freeswitch_shaped.py's client: a new TCP
   connection each, the captured headers and REGISTER forms with right digests), at each
   ``--in-flight``, against the yardsticks measured in the same run: ``bare`` (the bare
   aiohttp handler) for warm, ``bare-db`` (the same plus one read of the user) for cold.
   warm = the bridge of step 1 (its cache full from the warm start), ``--warm-users`` users of
   the domain, every one looked up once first;
   cold = ``directory.cache_size=0``, users drawn at random (``--sample`` of them) among
   every domain of the 1,000,000.
3. The admin API over the same socket as the domain's administrator: ``/api/extensions``
   pages (first, middle, last; 10 and 1,000 a page), the walk through every page of 1,000,
   and ``/api/users/list1`` of the domain (no node configured: every extension ``unreg``).
   Median of ``--rounds``, the first request (catalog load) reported apart, and the same
   requests each after one write to ``extensions`` (an XUI edit: the extension in the middle
   of the domain deleted, or brought back), RSS after 20 more writes each followed by list1
   and a page; then as a global administrator (every domain's 1,000,000): the first page,
   the same after a write.
   ``--api-only`` skips step 2.

Everything started here (PostgreSQL, servers) is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402
import freeswitch_shaped as shaped  # noqa: E402

from bridge import db  # noqa: E402
from bridge.embedded.server import EmbeddedPostgres  # noqa: E402
from bridge.hashes import login_sha1  # noqa: E402

DOMAIN = "xswitch.test"  # the captured forms' domain
ADMIN, ADMIN_PASSWORD = "bench-admin", "Bench-pw-1"
ROOT = "bench-root"  # a global administrator (is_super), same password


def domain_of(n: int, domain_size: int, others: int) -> str:
    """Row n's domain: the first ``domain_size`` rows are DOMAIN's, the rest round robin."""
    return DOMAIN if n < domain_size else f"d{(n - domain_size) % others}.{DOMAIN}"


def extn_of(n: int, domain_size: int, others: int) -> str:
    """Row n's extension number: 100000... in DOMAIN, 100000... in each other domain."""
    if n < domain_size:
        return str(bench.FIRST + n)
    return str(bench.FIRST + (n - domain_size) // others)


async def seed(dsn: str, total: int, domain_size: int, others: int) -> float:
    """Every row in one statement (generate_series); returns the seconds it took."""
    conn = await asyncpg.connect(dsn)
    try:
        await db.upgrade(conn)
        uid = await conn.fetchval(
            "INSERT INTO users (login, domain, salt, sha1, is_admin) VALUES ($1, $2, 's', $3, true)"
            " RETURNING id",
            ADMIN,
            DOMAIN,
            login_sha1(ADMIN, ADMIN_PASSWORD, "s"),
        )
        await conn.execute(
            "INSERT INTO users (login, domain, salt, sha1, is_admin, is_super)"
            " VALUES ($1, $2, 's', $3, true, 1)",
            ROOT,
            DOMAIN,
            login_sha1(ROOT, ADMIN_PASSWORD, "s"),
        )
        started = time.monotonic()
        await conn.execute(
            """
            INSERT INTO extensions (extn, domain, name, password, context, user_id, ha1, ha1b)
            SELECT e, d, e, 'Test1234pw', 'default', $1,
                   md5(e || ':' || d || ':Test1234pw'), md5(e || '@' || d || ':' || d || ':Test1234pw')
            FROM (
                SELECT CASE WHEN g < $3 THEN ($2 + g)::text ELSE ($2 + (g - $3) / $4)::text END AS e,
                       CASE WHEN g < $3 THEN $5 ELSE 'd' || ((g - $3) % $4) || '.' || $5 END AS d
                FROM generate_series(0, $6 - 1) g
            ) s
            """,
            uid,
            bench.FIRST,
            domain_size,
            others,
            DOMAIN,
            total,
        )
        await conn.execute("VACUUM ANALYZE extensions")
        await conn.execute("CHECKPOINT")
        return time.monotonic() - started
    finally:
        await conn.close()


class Lookups(shaped.Requests):
    """freeswitch_shaped's requests for any (extension, domain): the captured forms with both
    user and domain rewritten, digests recomputed."""

    def __init__(self, port: int, keys: list[tuple[str, str]]) -> None:
        head = "".join(f"{line}\r\n" for line in shaped._header_lines())
        templates = shaped._templates()
        self.requests = []
        for n, (extn, domain) in enumerate(keys):
            text, user = templates[n % len(templates)]
            body = shaped.with_right_digest(text.replace(user, extn).replace(DOMAIN, domain)).encode()
            self.requests.append(
                f"POST /directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )


def readyz(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            body: dict[str, object] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


def warmup_status(port: int) -> dict[str, object]:
    components = readyz(port).get("components", {})
    assert isinstance(components, dict)
    status: dict[str, object] = components.get("directory_cache", {}).get("warmup") or {}
    return status


def api_figures(port: int, dsn: str, domain_size: int, rounds: int, pid: int) -> None:
    """The admin API over a real socket, as the domain's administrator, then a global one."""
    import aiohttp

    async def go() -> None:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:

            async def login(user: str) -> dict[str, str]:
                async with session.post(
                    f"{base}/api/sessions", json={"login": user, "password": ADMIN_PASSWORD}
                ) as response:
                    return {"X-XTRA-AUTH-ID": (await response.json())["token"]}

            headers = await login(ADMIN)

            async def get(path: str) -> tuple[float, bytes]:
                started = time.perf_counter()
                async with session.get(base + path, headers=headers) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
                return time.perf_counter() - started, body

            last10 = (domain_size + 9) // 10
            last1000 = (domain_size + 999) // 1000
            paths = [
                (f"list1 (domain of {domain_size})", "/api/users/list1"),
                ("extensions page 1 of 10", "/api/extensions?page=1&page_size=10"),
                (f"extensions page {last10 // 2} of 10", f"/api/extensions?page={last10 // 2}&page_size=10"),
                (f"extensions page {last10} of 10 (last)", f"/api/extensions?page={last10}&page_size=10"),
                ("extensions page 1 of 1000", "/api/extensions?page=1&page_size=1000"),
                (
                    f"extensions page {last1000} of 1000 (last)",
                    f"/api/extensions?page={last1000}&page_size=1000",
                ),
            ]
            for label, path in paths:
                first, body = await get(path)
                samples = [(await get(path))[0] for _ in range(rounds)]
                if path.endswith("list1"):
                    doc = json.loads(body)
                    size = f"reg {doc['reg']['row_count']}, unreg {len(doc['unreg'])}, {len(body):,} bytes"
                else:
                    doc = json.loads(body)
                    size = f"rowCount {doc['rowCount']}, {len(doc['data'])} rows"
                median = statistics.median(samples)
                print(
                    f"  {label:<34} first {first * 1000:8.1f} ms  median {median * 1000:8.1f} ms"
                    f"  max {max(samples) * 1000:8.1f} ms  ({size})",
                    flush=True,
                )
            # One write to extensions (an XUI edit) before each request: the extension in the
            # middle of the domain deleted, or brought back (the catalog reads that row again).
            conn = await asyncpg.connect(dsn)

            async def write() -> None:
                await conn.execute(
                    "UPDATE extensions SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END"
                    " WHERE id = $1",
                    domain_size // 2,
                )

            try:
                for label, path in paths[:2]:
                    samples = []
                    for _ in range(max(1, rounds // 2)):
                        await write()
                        samples.append((await get(path))[0])
                    print(
                        f"  {label:<34} after a write: median {statistics.median(samples) * 1000:8.1f} ms"
                        f"  max {max(samples) * 1000:8.1f} ms",
                        flush=True,
                    )
                for _ in range(20):
                    await write()
                    await get(paths[0][1])
                    await get(paths[1][1])
                print(f"  RSS after 20 more writes, each then list1 and a page: {bench.rss_mb(pid):.0f} MiB")
                # A global administrator: every domain's extensions.
                mine = dict(headers)
                headers.update(await login(ROOT))
                first, _ = await get("/api/extensions?page=1&page_size=10")
                steady = statistics.median(
                    [(await get("/api/extensions?page=1&page_size=10"))[0] for _ in range(rounds)]
                )
                samples = []
                for _ in range(max(1, rounds // 2)):
                    await write()
                    samples.append((await get("/api/extensions?page=1&page_size=10"))[0])
                print(
                    f"  global admin, page 1 of 10 (every domain): first {first * 1000:8.1f} ms"
                    f"  median {steady * 1000:8.1f} ms  after a write: median"
                    f" {statistics.median(samples) * 1000:8.1f} ms  max {max(samples) * 1000:8.1f} ms;"
                    f" RSS {bench.rss_mb(pid):.0f} MiB",
                    flush=True,
                )
                headers.update(mine)
            finally:
                await conn.close()
            started = time.perf_counter()
            rows = 0
            for page in range(1, last1000 + 1):
                _, body = await get(f"/api/extensions?page={page}&page_size=1000")
                rows += len(json.loads(body)["data"])
            print(
                f"  walk every page of 1000 ({last1000} pages, {rows:,} rows):"
                f" {time.perf_counter() - started:.2f} s",
                flush=True,
            )

    asyncio.run(go())


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--extensions", type=int, default=1_000_000)
    parser.add_argument("--domain-size", type=int, default=100_000)
    parser.add_argument("--other-domains", type=int, default=900)
    parser.add_argument("--duration", type=float, default=8, help="seconds per measurement")
    parser.add_argument("--in-flight", default="1,16")
    parser.add_argument("--only", default="bare,bare-db,warm,cold")
    parser.add_argument("--sample", type=int, default=100_000, help="distinct users the cold runs draw")
    parser.add_argument("--warm-users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10, help="API requests per figure")
    parser.add_argument("--api-only", action="store_true", help="skip the lookups (step 2)")
    args = parser.parse_args()
    levels = [int(n) for n in args.in_flight.split(",")]
    only = args.only.split(",")
    total, size, others = args.extensions, args.domain_size, args.other_domains
    rng = random.Random(25)
    everywhere = [
        (extn_of(n, size, others), domain_of(n, size, others))
        for n in rng.sample(range(total), min(args.sample, total))
    ]
    print(f"load average at start: {load_average()}", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="bridge-scale-dir-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[tuple[str, int], shaped.Result] = {}
    try:
        took = asyncio.run(seed(dsn, total, size, others))
        print(
            f"seeded {total:,} extensions ({size:,} in {DOMAIN}, the rest over {others} domains)"
            f" in {took:.1f} s (INSERT ... SELECT generate_series, then VACUUM ANALYZE, CHECKPOINT)",
            flush=True,
        )

        # 1. Warm start at the default cache size.
        port = bench.free_port()
        started = time.monotonic()
        server = bench.bridge(dsn, port, 1)
        servers.append(server)
        listening = time.monotonic() - started
        rss_start = bench.rss_mb(server.pid)
        shaped.wait_warmed(port, limit=600)
        ready = time.monotonic() - started
        status = warmup_status(port)
        rss_warm = bench.rss_mb(server.pid)
        print(
            f"bridge serve, defaults: listening after {listening:.1f} s (RSS {rss_start:.0f} MiB);"
            f" warm start done after {ready:.1f} s from launch (its own timer {status.get('seconds')} s,"
            f" read {status.get('read')}, loaded {status.get('loaded')}); RSS {rss_warm:.0f} MiB;"
            f" load average {load_average()}",
            flush=True,
        )

        # 3. The admin API (same server, before the lookups add their own churn).
        print(f"admin API as {DOMAIN}'s administrator ({args.rounds} rounds each):", flush=True)
        api_figures(port, dsn, size, args.rounds, server.pid)
        print(
            f"bridge RSS after the API requests (the catalog of every extension):"
            f" {bench.rss_mb(server.pid):.0f} MiB",
            flush=True,
        )

        # 2. Lookups.
        warm_keys = [(str(bench.FIRST + n), DOMAIN) for n in range(min(args.warm_users, size))]
        for scenario in [] if args.api_only else only:
            if scenario == "warm":
                requests: shaped.Requests = Lookups(port, warm_keys)
                pid = server.pid
                shaped.fill(port, requests)
                current: subprocess.Popen[bytes] | None = None
            else:
                port_b = bench.free_port()
                if scenario == "bare":
                    current = bench.start(
                        [bench.PYTHON, str(HERE / "directory_bare.py"), str(port_b)], port_b
                    )
                    requests = Lookups(port_b, warm_keys)
                elif scenario == "bare-db":
                    current = bench.start(
                        [bench.PYTHON, str(HERE / "directory_bare.py"), str(port_b), dsn], port_b
                    )
                    requests = Lookups(port_b, everywhere)
                elif scenario == "cold":
                    current = bench.bridge(dsn, port_b, 1, "directory.cache_size=0")
                    requests = Lookups(port_b, everywhere)
                else:
                    raise SystemExit(f"unknown scenario {scenario!r}")
                servers.append(current)
                pid = current.pid
            try:
                for level in levels:
                    shuffle = scenario in ("cold", "bare-db")
                    result = shaped.run(
                        scenario,
                        port if current is None else port_b,
                        requests,
                        level,
                        args.duration,
                        shuffle=shuffle,
                        pid=pid,
                    )
                    results[scenario, level] = result
                    print(result.line(), f" load {load_average()}", flush=True)
            finally:
                if current is not None:
                    bench.stop(current)
                    servers.remove(current)
        print(f"bridge (warm) RSS after the lookups: {bench.rss_mb(server.pid):.0f} MiB", flush=True)
    finally:
        for proc in servers:
            bench.stop(proc)
        pg.remove()

    print(
        f"\nmachine: {os.cpu_count()} CPUs ({bench.cpu_model()}); load average at the end {load_average()};"
        f" {args.duration:g} s per run; new TCP connection per lookup"
    )
    for level in levels:
        bare, floor, warm, cold = (results.get((s, level)) for s in ("bare", "bare-db", "warm", "cold"))
        if bare and warm:
            print(
                f"in flight {level:>2}: warm/bare p50 {warm.pct(50) / bare.pct(50):.2f}x,"
                f" p99 {warm.pct(99) / bare.pct(99):.2f}x, lookups/s {warm.rate / bare.rate:.2f}x"
            )
        if floor and cold:
            print(
                f"in flight {level:>2}: cold/bare-db p50 {cold.pct(50) / floor.pct(50):.2f}x,"
                f" p99 {cold.pct(99) / floor.pct(99):.2f}x, lookups/s {cold.rate / floor.rate:.2f}x"
            )


if __name__ == "__main__":
    main()
