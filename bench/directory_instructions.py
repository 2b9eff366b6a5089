"""Instructions per directory lookup, counted by valgrind: a ratio that machine noise cannot move.

Run by hand (not a test); needs valgrind (on every machine of this kind):

    .venv/bin/python bench/directory_instructions.py [--requests 2000] [--concurrency 32]
        [--only bare,warm,cold]

wrk's req/s on a shared 2-core VM moves by +-30 % between runs, which is more than the
differences being chased. Instead, each server runs under ``valgrind --tool=callgrind``;
after its warm-up the counters are zeroed (``callgrind_control -z``), a client outside
valgrind posts exactly N captured sip_auth forms (random users, fixed seed, C at a time),
and the counters are dumped (``callgrind_control -d``). Instructions / N is the server's
user-space CPU work per lookup, the same from run to run. Kernel work (the socket reads
and writes, epoll) is not counted; it is about the same per request for every server, so
the real throughput ratio lies between this one and 1.

Scenarios: bare (bench/directory_bare.py, the yardstick), warm (bridge, 2,000 users
cached), cold (bridge, ``directory.cache_size=0``: every lookup reads PostgreSQL, which
runs outside valgrind and is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import directory_bench as wrkbench

from bridge.embedded.server import EmbeddedPostgres

WARM_USERS = 2_000
OUT = Path(tempfile.gettempdir()) / "bridge-callgrind"


def under_valgrind(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("cg.*"):
        old.unlink()
    wrapped = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={OUT}/cg.%p", *cmd]
    return wrkbench.start(wrapped, port, wait=600)  # imports alone take ~20 s under callgrind


def control(flag: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def dumped_instructions(pid: int) -> int:
    """The instruction count of the newest dump of ``pid`` (since the last zeroing)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dumps = sorted(OUT.glob(f"cg.{pid}.*"), key=lambda p: int(p.suffix[1:]))
        if dumps:
            match = re.search(r"^summary:\s+(\d+)", dumps[-1].read_text(), re.M)
            if match:
                return int(match.group(1))
        time.sleep(0.5)
    raise SystemExit(f"no callgrind dump from {pid}")


async def post_forms(port: int, users: list[int], concurrency: int, *, strict: bool = True) -> int:
    template = wrkbench.FORM.read_text()
    sem = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(user: int) -> None:
            async with (
                sem,
                session.post(
                    f"http://127.0.0.1:{port}/directory",
                    data=template.replace("1001", str(user)),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as response,
            ):
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(one(user) for user in users))
    if strict and set(statuses) != {200}:
        raise SystemExit(f"unexpected answers: {statuses}")
    return len(users)


def measure(
    name: str, cmd: list[str], port: int, *, warm_up: list[int], users: list[int], concurrency: int
) -> float:
    proc = under_valgrind(cmd, port)
    try:
        # The warm-up may see a slow first connection time out; the measured run may not.
        asyncio.run(post_forms(port, warm_up, concurrency, strict=False))
        asyncio.run(post_forms(port, warm_up, concurrency))
        control("-z", proc.pid)
        count = asyncio.run(post_forms(port, users, concurrency))
        control("-d", proc.pid)
        per_request = dumped_instructions(proc.pid) / count
    finally:
        wrkbench.stop(proc)
    print(f"{name:<40} {per_request:>12,.0f} instructions per lookup ({count} lookups)", flush=True)
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", default="bare,warm,cold")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    only = set(args.only.split(","))
    rng = random.Random(7)
    first = wrkbench.FIRST
    warm_users = [first + n for n in range(WARM_USERS)]
    warm_load = [first + rng.randrange(WARM_USERS) for _ in range(args.requests)]
    cold_load = rng.sample(range(first, first + 100_000), args.requests)
    results: dict[str, float] = {}

    tmp = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    pg = EmbeddedPostgres(tmp / "pgdata")
    dsn = pg.start()
    try:
        asyncio.run(wrkbench.seed(dsn, 100_000))
        bridge = [
            wrkbench.PYTHON,
            "-m",
            "bridge",
            "--set",
            f"database.url={dsn}",
            "--set",
            "log.level=WARNING",
            # Under valgrind everything is ~50x slower: no lookup may time out.
            "--set",
            "database.query_timeout=120",
        ]
        if "bare" in only:
            port = wrkbench.free_port()
            bare = [wrkbench.PYTHON, str(Path(__file__).with_name("directory_bare.py")), str(port)]
            results["bare"] = measure(
                "bare aiohttp, constant 2.5 KB",
                bare,
                port,
                warm_up=warm_users[:200],
                users=warm_load,
                concurrency=args.concurrency,
            )
        if "warm" in only:
            port = wrkbench.free_port()
            cmd = [*bridge, "serve", "--port", str(port)]
            results["warm"] = measure(
                f"bridge warm ({WARM_USERS} users cached)",
                cmd,
                port,
                warm_up=warm_users,
                users=warm_load,
                concurrency=args.concurrency,
            )
        if "cold" in only:
            port = wrkbench.free_port()
            cmd = [*bridge, "--set", "directory.cache_size=0", "serve", "--port", str(port)]
            results["cold"] = measure(
                "bridge cold (every lookup a query)",
                cmd,
                port,
                warm_up=warm_users[:200],
                users=cold_load,
                concurrency=args.concurrency,
            )
    finally:
        pg.remove()

    print(f"\nvalgrind callgrind, {args.requests} lookups, {args.concurrency} at a time")
    if "bare" in results and "warm" in results:
        ratio = results["bare"] / results["warm"]
        print(f"bare/warm instructions   {ratio:.2f}x  (the warm throughput ceiling)")
    if "warm" in results and "cold" in results:
        ratio = results["warm"] / results["cold"]
        print(f"warm/cold instructions   {ratio:.2f}x  (bridge's side of cold/warm)")


if __name__ == "__main__":
    main()
