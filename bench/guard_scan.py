"""The registration guard's cost on the lookup path, and its memory at its bounds (issue 15).

Run by hand (not a test). Warm directory lookups the way mod_xml_curl sends them
(bench/freeswitch_shaped.py: a new TCP connection per lookup, captured headers and forms),
at 1 and 16 in flight, in four bridges, all in the same run:

  off        guard.enabled=false
  on         the guard on (the default), no scan
  scan-ban   on, while another process sends --scan-rate failing lookups a second (wrong
             passwords of real users, the captured wrong-password form) from one source,
             which the guard soon bans: then each is answered "not found" at once
  scan-open  the same scan from an allow-listed source (guard.allow), so it is never banned:
             every scan lookup is answered in full and queued for the digest check (worst case)

    .venv/bin/python bench/guard_scan.py [--duration 10] [--in-flight 1,16] [--scan-rate 1000]
    .venv/bin/python bench/guard_scan.py --memory     # tracemalloc of history and counters at their bounds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402
import freeswitch_shaped as shaped  # noqa: E402

from bridge.embedded.server import EmbeddedPostgres  # noqa: E402

SCANNER = "203.0.113.7"
WRONG = shaped.FIXTURES / "register_1001_wrong_password.form"


def scan_requests(port: int, count: int) -> list[bytes]:
    head = "".join(f"{line}\r\n" for line in shaped._header_lines())
    text = WRONG.read_text().replace("ip=127.0.0.1", f"ip={SCANNER}")
    out = []
    for n in range(count):
        body = text.replace("1001", str(bench.FIRST + n)).encode()
        out.append(
            f"POST /directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Connection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return out


async def _scan(port: int, rate: float) -> None:
    """Send ``rate`` lookups a second, paced, each on a new connection, until killed."""
    loop = asyncio.get_running_loop()
    requests = scan_requests(port, 1000)
    sent = 0
    started = time.perf_counter()
    sem = asyncio.Semaphore(64)

    async def one(request: bytes) -> None:
        async with sem:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            await reader.read()  # to the close (Connection: close)
            writer.close()

    tasks: set[asyncio.Task[None]] = set()
    while True:
        due = int((time.perf_counter() - started) * rate)
        while sent < due:
            task = loop.create_task(one(requests[sent % len(requests)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.002)


async def forget_bans(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM guard_bans")
    finally:
        await conn.close()


def memory() -> None:
    from bridge.guard.attempt import Attempt
    from bridge.guard.history import History
    from bridge.guard.outcome import Reason
    from bridge.guard.rules import Rules, RuleSettings

    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    history = History(per_extension=20, extensions=10_000)
    for n in range(300_000):
        ua = f"Yealink SIP-T46S 66.86.0.{n % 50}"
        history.add(f"{n % 10_000}@xswitch.test", Attempt(
            float(n), "fs1", f"10.{n % 200}.{n % 250}.1", str(5060 + n % 1000), ua, str(n % 12_000),
            "xswitch.test", "REGISTER", Reason.WRONG_PASSWORD, "lookup"))  # fmt: skip
    after_history = tracemalloc.take_snapshot()
    rules = Rules(RuleSettings(max_sources=100_000))
    for n in range(250_000):
        ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        rules.failure(ip, f"9{n % 11}@xswitch.test", Reason.UNKNOWN_USER, "x", 1.0)
        rules.trust(f"11.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 1.0)
    after_rules = tracemalloc.take_snapshot()

    def mib(a: tracemalloc.Snapshot, b: tracemalloc.Snapshot) -> float:
        return sum(s.size_diff for s in b.compare_to(a, "filename")) / 2**20

    used = mib(base, after_history)
    print(f"history: {len(history)} extensions x 20, {history.attempts()} attempts: {used:.1f} MiB")
    print(f"rules: {rules.sizes()}: {mib(after_history, after_rules):.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--in-flight", default="1,16")
    parser.add_argument("--scan-rate", type=float, default=1000)
    parser.add_argument("--warm-users", type=int, default=10_000)
    parser.add_argument("--only", default="off,on,scan-ban,scan-open")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--scan-load", type=int, help=argparse.SUPPRESS)  # internal: the scanning process
    args = parser.parse_args()
    if args.memory:
        memory()
        return
    if args.scan_load:
        asyncio.run(_scan(args.scan_load, args.scan_rate))
        return
    levels = [int(n) for n in args.in_flight.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bridge-guard-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    # The measured forms are the captured REGISTER rewritten for other users, so their digests
    # are wrong: the measuring client's own source (ip=127.0.0.1 in the forms) is allow-listed,
    # else the guard would rightly ban it. Every measured lookup is still observed and checked.
    settings = {
        "off": ["guard.enabled=false"],
        "on": ["guard.allow=127.0.0.1/32"],
        "scan-ban": ["guard.allow=127.0.0.1/32"],
        "scan-open": [f"guard.allow=127.0.0.1/32,{SCANNER}/32"],
    }
    try:
        asyncio.run(bench.seed(dsn, max(args.warm_users, 1000)))
        asyncio.run(shaped.settle(dsn))
        for scenario in args.only.split(","):
            asyncio.run(forget_bans(dsn))  # each scenario starts with no ban from the one before
            port = bench.free_port()
            server = bench.bridge(dsn, port, 1, *settings[scenario])
            requests = shaped.Requests(port, bench.FIRST, args.warm_users)
            shaped.fill(port, requests)
            scanner = None
            if scenario.startswith("scan"):
                scanner = subprocess.Popen(
                    [bench.PYTHON, __file__, "--scan-load", str(port), "--scan-rate", str(args.scan_rate)]
                )
                time.sleep(2)  # the scan is under way (and banned, for scan-ban) before measuring
            try:
                for level in levels:
                    result = shaped.run(
                        scenario, port, requests, level, args.duration, shuffle=False, pid=server.pid
                    )
                    print(result.line(), f" RSS {bench.rss_mb(server.pid):.0f} MiB", flush=True)
                print(
                    "   ",
                    asyncio.run(bench.metric(port, "bridge_guard_refused_lookups_total")).replace("\n", "; "),
                )
                print(
                    "   ",
                    asyncio.run(bench.metric(port, "bridge_guard_queue_dropped_total")).replace("\n", "; "),
                )
                print(
                    "   ",
                    asyncio.run(bench.metric(port, 'bridge_guard_attempts_total{reason="wrong_password"}')),
                )
            finally:
                if scanner is not None:
                    scanner.kill()
                    scanner.wait()
                bench.stop(server)
    finally:
        pg.remove()
    print(f"\nmachine: {os.cpu_count()} CPUs ({bench.cpu_model()}), shared; {args.duration:g} s per run")


if __name__ == "__main__":
    main()
