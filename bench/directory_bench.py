"""Directory lookups at the speed limit: bridge's POST /directory against a bare aiohttp handler.

Run by hand (not a test); needs ``wrk`` (apt-get install wrk). Prints figures and the
ratios measured in the same run:

    .venv/bin/python bench/directory_bench.py [--duration 10] [--connections 128] [--workers 1]
        [--big 1000000]   # also the 1,000,000-extension memory run (slow to seed)
        [--extensions 1000000]   # rows in PostgreSQL for every scenario (cold picks among all)
        [--only bare,warm,cold,outage] [--cold-set database.pool_max=20]

Scenarios: warm (10,000 users, all cached), bare (the yardstick), cold (100,000 users,
cache_size=0 so every lookup is a database query), outage (PostgreSQL stopped: cached
users, then uncached ones), big (1,000,000 extensions, default cache bound, RSS measured).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge import db  # noqa: E402
from bridge.embedded.server import EmbeddedPostgres  # noqa: E402

FORM = ROOT / "tests/fixtures/freeswitch/xml_curl/register_1001.form"
LUA = Path(__file__).with_name("directory_post.lua")
FIRST = 100000
PYTHON = sys.executable
SERVER_LOG = Path(tempfile.gettempdir()) / "bridge-bench-servers.log"


@dataclass
class Run:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    cpu_us: float | None = None  # server CPU (user + system) per request, when the pid was given
    pg_cpu_us: float = 0.0  # CPU of every postgres process per request (0 when it did nothing)

    def line(self) -> str:
        cpu = "" if self.cpu_us is None else f"  server CPU {self.cpu_us:5.0f} us/req"
        if self.pg_cpu_us >= 1:
            cpu += f"  PostgreSQL CPU {self.pg_cpu_us:4.0f} us/req"
        return (
            f"{self.name:<34} {self.rps:>9.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:7.2f} ms"
            f"  non-2xx {self.non_2xx}  socket errors {self.errors}{cpu}"
        )


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise SystemExit(f"cannot read a latency: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (/proc/PID/stat fields 14 and 15), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """utime + stime of every process named postgres (the server and its backends)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended meanwhile
        if "(postgres)" in text:
            fields = text.rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wrk(
    name: str,
    port: int,
    users: int,
    duration: int,
    connections: int,
    *,
    first: int = FIRST,
    pid: int | None = None,
) -> Run:
    # Server CPU per request is steadier than req/s on a small VM that wrk and PostgreSQL share.
    cpu_before = None if pid is None else cpu_seconds(pid)
    pg_before = postgres_cpu_seconds()
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}/directory",
            "--",
            str(FORM),
            str(first),
            str(users),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Latency Distribution" not in out or "-nan" in out:
        raise SystemExit(f"{name}: wrk measured nothing:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    cpu_us = None
    pg_cpu_us = 0.0
    if total is not None and int(total.group(1)):
        # Backends that exit during the run take their CPU with them: a lower bound.
        pg_cpu_us = max(0.0, postgres_cpu_seconds() - pg_before) / int(total.group(1)) * 1e6
    if cpu_before is not None and pid is not None and total is not None and int(total.group(1)):
        cpu_us = (cpu_seconds(pid) - cpu_before) / int(total.group(1)) * 1e6
    return Run(
        name,
        rps,
        p50,
        p99,
        int(non2xx.group(1)) if non2xx else 0,
        sum(map(int, errs.groups())) if errs else 0,
        cpu_us,
        pg_cpu_us,
    )


async def seed(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await db.upgrade(conn)
        have = await conn.fetchval("SELECT count(*) FROM extensions")
        if have >= count:
            return
        uid = await conn.fetchval(
            "INSERT INTO users (login, domain) VALUES ('bench', 'xswitch.test') RETURNING id"
        )
        await conn.execute(
            """
            INSERT INTO extensions (extn, domain, name, password, context, user_id, ha1, ha1b)
            SELECT e, 'xswitch.test', e, 'Test1234pw', 'default', $1,
                   md5(e || ':xswitch.test:Test1234pw'), md5(e || '@xswitch.test:xswitch.test:Test1234pw')
            FROM (SELECT ($2 + g)::text AS e FROM generate_series($3, $4 - 1) g) s
            """,
            uid,
            FIRST,
            have,
            count,
        )
        await conn.execute("ANALYZE extensions")
    finally:
        await conn.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], port: int, wait: float = 30, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    # Servers' own logs (the outage runs warn once per failed lookup) go to a file.
    with SERVER_LOG.open("ab") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not listen: {cmd}")


def bridge(dsn: str, port: int, workers: int, *settings: str) -> subprocess.Popen[bytes]:
    cmd = [PYTHON, "-m", "bridge", "--set", f"database.url={dsn}", "--set", "log.level=WARNING"]
    for item in settings:
        cmd += ["--set", item]
    cmd += ["serve", "--port", str(port), "--workers", str(workers)]
    return start(cmd, port)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown CPU"


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (the workers), in MiB."""
    pids = [pid] + [
        int(p)
        for p in subprocess.run(
            ["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True
        ).stdout.split()
    ]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def warm(port: int, users: int, first: int = FIRST) -> None:
    template = FORM.read_text()
    sem = asyncio.Semaphore(64)
    async with aiohttp.ClientSession() as session:

        async def one(n: int) -> None:
            async with (
                sem,
                session.post(
                    f"http://127.0.0.1:{port}/directory",
                    data=template.replace("1001", str(first + n)),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as r,
            ):
                await r.read()

        await asyncio.gather(*(one(n) for n in range(users)))


async def metric(port: int, name: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--big", type=int, default=0)
    parser.add_argument("--extensions", type=int, default=100_000, help="rows seeded; cold picks among all")
    parser.add_argument("--cold-set", action="append", default=[], help="extra --set for the cold run")
    parser.add_argument("--only", default="bare,warm,cold,outage", help="comma-separated scenarios to run")
    args = parser.parse_args()
    d, c = args.duration, args.connections
    only = set(args.only.split(","))

    tmp = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    try:
        n = args.extensions
        asyncio.run(seed(dsn, n))
        runs: dict[str, Run] = {}

        if "bare" in only:
            port = free_port()
            bare = start([PYTHON, str(Path(__file__).with_name("directory_bare.py")), str(port)], port)
            wrk("(bare warm-up)", port, 10_000, 2, c)
            runs["bare"] = wrk("bare aiohttp, constant 2.5 KB", port, 10_000, d, c, pid=bare.pid)
            stop(bare)

        if "warm" in only:
            port = free_port()
            server = bridge(dsn, port, args.workers)
            asyncio.run(warm(port, 10_000))
            wrk("(warm-up)", port, 10_000, 2, c)
            runs["warm"] = wrk(
                "bridge warm (10k users cached)",
                port,
                10_000,
                d,
                c,
                pid=server.pid if args.workers == 1 else None,
            )
            print(asyncio.run(metric(port, "bridge_directory_cache_requests_total")))
            print(asyncio.run(metric(port, "bridge_directory_answer_cache_requests_total")))
            stop(server)

        if "cold" in only:
            port = free_port()
            server = bridge(dsn, port, args.workers, "directory.cache_size=0", *args.cold_set)
            wrk("(cold warm-up: connections, plans)", port, n, 2, c)
            runs["cold"] = wrk(
                f"bridge cold ({n // 1000}k users, no cache)",
                port,
                n,
                d,
                c,
                pid=server.pid if args.workers == 1 else None,
            )
            stop(server)

        if "outage" in only:
            port = free_port()
            server = bridge(dsn, port, args.workers, "database.query_timeout=0.5")
            asyncio.run(warm(port, 10_000))
            pg.stop()
            runs["outage_cached"] = wrk("PostgreSQL stopped, cached users", port, 10_000, d, c)
            runs["outage_uncached"] = wrk(
                "PostgreSQL stopped, uncached users", port, 50_000, d, c, first=FIRST + 50_000
            )
            pg.start()
            stop(server)

        print(
            f"\nmachine: {os.cpu_count()} CPUs ({cpu_model()}), {os.uname().sysname} {os.uname().release};"
            f" wrk -t1 -c{c} -d{d}s; bridge --workers {args.workers}\n"
        )
        for run in runs.values():
            print(run.line())
        w, b, cold = runs.get("warm"), runs.get("bare"), runs.get("cold")
        if w and b:
            print(f"\nwarm/bare throughput   {w.rps / b.rps:.2f}x   (target >= 0.9)")
            print(f"warm/bare p99          {w.p99_ms / b.p99_ms:.2f}x   (target <= 1.5)")
            if w.cpu_us and b.cpu_us:
                print(f"bare/warm server CPU   {b.cpu_us / w.cpu_us:.2f}x   (ceiling, CPU-bound)")
        if cold and w:
            print(f"cold/warm throughput   {cold.rps / w.rps:.2f}x   (target >= 0.5)")
        if cold:
            print(f"cold p99               {cold.p99_ms:.2f} ms (target < 20)")

        if args.big:
            asyncio.run(seed(dsn, args.big))
            port = free_port()
            server = bridge(dsn, port, args.workers)
            before = rss_mb(server.pid)
            wrk("(fill the cache)", port, args.big, max(d * 3, 30), c)
            after = rss_mb(server.pid)
            entries = asyncio.run(metric(port, "bridge_directory_cache_entries"))
            print(
                f"\n{args.big} extensions: RSS {before:.0f} MiB idle -> {after:.0f} MiB after random"
                f" lookups; {entries}"
            )
            stop(server)
    finally:
        pg.remove()


if __name__ == "__main__":
    main()
