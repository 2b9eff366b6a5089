"""Directory lookups the way mod_xml_curl sends them: a new TCP connection per lookup.

Run by hand (not a test). mod_xml_curl opens a new curl handle for every lookup (so a new
TCP connection, TCP_NODELAY as curl sets it), sends the captured headers
(tests/fixtures/freeswitch/xml_curl/http_request_headers_example.txt), reads the
answer and closes; the SIP thread waits meanwhile. With FreeSWITCH's one sofia thread
lookups come one at a time; with ``max-reg-threads=16``, up to 16 at once. The bodies
are the captured REGISTER forms (plain ``1001``, ``1002`` and the ``1001@domain`` digest
username), each rewritten for many different users.

    .venv/bin/python bench/freeswitch_shaped.py [--duration 10] [--in-flight 1,16]
        [--only bare,bare-db,warm,cold] [--extensions 100000] [--warm-users 10000]
        [--workers 1] [--set section.key=value ...]   # extra settings for both bridge runs

Scenarios, all in the same run, each at every --in-flight level:
  bare  the yardstick: bench/directory_bare.py (reads the form, answers a constant
        2.5 KB document), also on a new connection per lookup;
  bare-db  the cold yardstick: the same handler plus one read of the user with bridge's
        statement on a plain asyncpg pool (bare + one database round trip);
  warm  bridge with --warm-users users, every one looked up once before measuring;
  cold  bridge with directory.cache_size=0: every lookup a database read, users picked
        at random among --extensions rows in PostgreSQL.

Prints p50/p99/p99.9 latency (connect to last byte, as the SIP thread waits) and
lookups/s, then the ratios and targets of issue 12.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import re
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402

from bridge.embedded.server import EmbeddedPostgres  # noqa: E402

FIXTURES = HERE.parent / "tests/fixtures/freeswitch/xml_curl"
HEADERS = FIXTURES / "http_request_headers_example.txt"
FORMS = ("register_1001.form", "register_1002.form", "register_1001_at_domain_username.form")


def _header_lines() -> list[str]:
    """The captured request line and headers, minus Host and Content-Length (set per request)."""
    lines = [line for line in HEADERS.read_text().splitlines() if line.strip()]
    return [line for line in lines[1:] if not line.lower().startswith(("host:", "content-length:"))]


def _templates() -> list[tuple[str, str]]:
    """(form text, the captured user id in it) for each captured REGISTER form."""
    out = []
    for name in FORMS:
        text = (FIXTURES / name).read_text()
        user = urllib.parse.parse_qs(text)["user"][0].partition("@")[0]
        out.append((text, user))
    return out


PASSWORD = "Test1234pw"  # what directory_bench.seed gives every extension


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def with_right_digest(body: str) -> str:
    """The form with ``sip_auth_response`` recomputed for its (rewritten) user and the seed password.

    A rewritten user keeps the captured phone's response, which is wrong for any other
    user: the registration guard would count every lookup as a failed digest from one
    source and ban it. Real phones send right digests (RFC 2617, qop=auth).
    """
    fields = dict(urllib.parse.parse_qsl(body))
    ha1 = _md5(f"{fields['sip_auth_username']}:{fields['sip_auth_realm']}:{PASSWORD}")
    ha2 = _md5(f"{fields['sip_auth_method']}:{fields['sip_auth_uri']}")
    response = _md5(
        f"{ha1}:{fields['sip_auth_nonce']}:{fields['sip_auth_nc']}:{fields['sip_auth_cnonce']}"
        f":{fields['sip_auth_qop']}:{ha2}"
    )
    return re.sub(r"(?<=sip_auth_response=)[0-9a-f]{32}", response, body)


class Requests:
    """Complete HTTP requests, one per (user, form), built once before measuring."""

    def __init__(self, port: int, first: int, count: int) -> None:
        head = "".join(f"{line}\r\n" for line in _header_lines())
        templates = _templates()
        self.requests: list[bytes] = []
        for n in range(count):
            text, user = templates[n % len(templates)]
            body = with_right_digest(text.replace(user, str(first + n))).encode()
            self.requests.append(
                f"POST /directory HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )

    def cycle(self, shuffle: bool) -> Iterator[bytes]:
        order = list(range(len(self.requests)))
        while True:
            if shuffle:
                random.shuffle(order)
            for index in order:
                yield self.requests[index]


class BadAnswer(Exception):
    pass


async def lookup(loop: asyncio.AbstractEventLoop, port: int, request: bytes) -> None:
    """One lookup as curl does it: connect, send, read the whole answer, close."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise BadAnswer("closed before the headers")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise BadAnswer(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if match is None:
            raise BadAnswer("no Content-Length")
        length = int(match.group(1))
        while len(body) < length:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise BadAnswer("closed before the body")
            body += chunk
        if b"<user " not in body and b"<!--" not in body:
            raise BadAnswer("no user in the answer")
    finally:
        sock.close()


@dataclass
class Result:
    name: str
    in_flight: int
    latencies: list[float]  # seconds, sorted
    seconds: float
    failures: int
    cpu_us: float | None  # server CPU (user + system) per lookup

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        index = min(len(self.latencies) - 1, round(p / 100 * len(self.latencies) + 0.5) - 1)
        return self.latencies[max(index, 0)] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self) -> str:
        cpu = "" if self.cpu_us is None else f"  server CPU {self.cpu_us:4.0f} us/lookup"
        return (
            f"{self.name:<6} in flight {self.in_flight:>2}: p50 {self.pct(50):5.2f} ms"
            f"  p99 {self.pct(99):5.2f} ms"
            f"  p99.9 {self.pct(99.9):6.2f} ms  {self.rate:6.0f} lookups/s  n={len(self.latencies)}"
            f"  failures {self.failures}{cpu}"
        )


async def _measure(
    port: int, requests: Iterator[bytes], in_flight: int, duration: float
) -> tuple[list[float], int, float]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0
    started = time.perf_counter()
    deadline = started + duration

    async def client() -> None:
        nonlocal failures
        clock = time.perf_counter
        while clock() < deadline:
            request = next(requests)
            t0 = clock()
            try:
                await lookup(loop, port, request)
            except (BadAnswer, OSError):
                failures += 1
                continue
            latencies.append(clock() - t0)

    await asyncio.gather(*(client() for _ in range(in_flight)))
    return latencies, failures, time.perf_counter() - started


def run(
    name: str,
    port: int,
    requests: Requests,
    in_flight: int,
    duration: float,
    *,
    shuffle: bool,
    pid: int | None,
) -> Result:
    source = requests.cycle(shuffle)
    asyncio.run(_measure(port, source, in_flight, min(1.0, duration)))  # connections, plans, caches
    cpu_before = None if pid is None else bench.cpu_seconds(pid)
    latencies, failures, seconds = asyncio.run(_measure(port, source, in_flight, duration))
    cpu_us = None
    if pid is not None and cpu_before is not None and latencies:
        cpu_us = (bench.cpu_seconds(pid) - cpu_before) / len(latencies) * 1e6
    return Result(name, in_flight, sorted(latencies), seconds, failures, cpu_us)


def wait_warmed(port: int, limit: float = 300) -> None:
    """Until bridge's warm start (if it has one) is over: it is a start-up transient, not load."""
    import json
    import urllib.request

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as response:
            body = json.loads(response.read())
        warmup = body.get("components", {}).get("directory_cache", {}).get("warmup")
        if warmup is None or warmup.get("state") in ("done", "off"):
            return
        time.sleep(0.2)
    raise SystemExit("bridge's warm start did not finish")


def fill(port: int, requests: Requests) -> None:
    """Look every warm user up once (16 at a time), so the measured lookups all hit."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        queue = iter(requests.requests)

        async def client() -> None:
            for request in queue:
                await lookup(loop, port, request)

        await asyncio.gather(*(client() for _ in range(16)))

    asyncio.run(go())


async def settle(dsn: str) -> None:
    """Vacuum and checkpoint after seeding, so the first scenario does not pay for it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE extensions")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--in-flight", default="1,16", help="comma-separated lookups in flight")
    parser.add_argument("--only", default="bare,bare-db,warm,cold", help="comma-separated scenarios")
    parser.add_argument(
        "--extensions", type=int, default=100_000, help="rows in PostgreSQL (cold picks among all)"
    )
    parser.add_argument("--warm-users", type=int, default=10_000, help="users cached in the warm runs")
    parser.add_argument("--workers", type=int, default=1, help="bridge serve --workers")
    parser.add_argument(
        "--set", dest="settings", action="append", default=[], help="extra setting for bridge"
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.in_flight.split(",")]
    only = args.only.split(",")
    results: dict[tuple[str, int], Result] = {}

    tmp = Path(tempfile.mkdtemp(prefix="bridge-fs-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    try:
        asyncio.run(bench.seed(dsn, args.extensions))
        asyncio.run(settle(dsn))
        for scenario in only:
            port = bench.free_port()
            if scenario == "bare":
                server = bench.start([bench.PYTHON, str(HERE / "directory_bare.py"), str(port)], port)
                requests = Requests(port, bench.FIRST, args.warm_users)
            elif scenario == "bare-db":
                server = bench.start([bench.PYTHON, str(HERE / "directory_bare.py"), str(port), dsn], port)
                requests = Requests(port, bench.FIRST, args.extensions)
            elif scenario == "warm":
                server = bench.bridge(dsn, port, args.workers, *args.settings)
                requests = Requests(port, bench.FIRST, args.warm_users)
            elif scenario == "cold":
                server = bench.bridge(dsn, port, args.workers, "directory.cache_size=0", *args.settings)
                requests = Requests(port, bench.FIRST, args.extensions)
            else:
                raise SystemExit(f"unknown scenario {scenario!r}")
            pid = server.pid if scenario.startswith("bare") or args.workers == 1 else None
            try:  # from here on the server is stopped whatever happens
                if not scenario.startswith("bare"):
                    wait_warmed(port)
                if scenario == "warm":
                    fill(port, requests)
                for level in levels:
                    shuffle = scenario in ("cold", "bare-db")
                    result = run(scenario, port, requests, level, args.duration, shuffle=shuffle, pid=pid)
                    results[scenario, level] = result
                    print(result.line(), flush=True)
            finally:
                bench.stop(server)
    finally:
        pg.remove()

    print(
        f"\nmachine: {os.cpu_count()} CPUs ({bench.cpu_model()}), {os.uname().sysname} {os.uname().release};"
        f" {args.duration:g} s per run; new TCP connection per lookup; bridge --workers {args.workers}"
        f" {' '.join('--set ' + s for s in args.settings)}"
    )
    for level in levels:
        bare, floor, warm, cold = (results.get((s, level)) for s in ("bare", "bare-db", "warm", "cold"))
        if bare and warm:
            print(
                f"in flight {level:>2}: warm p50 - bare p50 {warm.pct(50) - bare.pct(50):+.2f} ms"
                f"{'  (target <= +0.15)' if level == 1 else ''};"
                f" warm/bare p99 {warm.pct(99) / bare.pct(99):.2f}x"
                f"{'  (target <= 1.5)' if level == 1 else ''};"
                f" warm/bare lookups/s {warm.rate / bare.rate:.2f}x"
            )
        if cold:
            target = (
                "  (targets p50 < 1, p99 < 3)" if level == 1 else "  (target p99 < 5)" if level == 16 else ""
            )
            print(f"in flight {level:>2}: cold p50 {cold.pct(50):.2f} ms, p99 {cold.pct(99):.2f} ms{target}")
            if floor:
                print(
                    f"in flight {level:>2}: cold p50 - bare-db p50 {cold.pct(50) - floor.pct(50):+.2f} ms;"
                    f" cold/bare-db p99 {cold.pct(99) / floor.pct(99):.2f}x;"
                    f" cold/bare-db lookups/s {cold.rate / floor.rate:.2f}x"
                )


if __name__ == "__main__":
    main()
