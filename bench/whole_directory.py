"""sip_auth latency while clients ask for whole-directory answers (issue 13 item 4).

Run by hand (not a test):

    .venv/bin/python bench/whole_directory.py [--extensions 3000] [--clients 8] [--duration 10]
        [--tree /path/to/another/checkout]   # serve that tree's bridge (e.g. main, "before")

One client asks sip_auth (register_1001.form for a seeded user) one at a time, each on a
new connection, as a sofia thread does; ``--clients`` others ask list_users.form in a loop.
Three runs: "quiet" (no list_users client: the yardstick), "static" (nothing changes),
"changing" (an extension is updated every 0.2 s,
so no whole answer can be reused for long). Prints sip_auth p50/p99/max and how many
list_users answers were served, and the server's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.directory_bench import FIRST, free_port, rss_mb, seed, start, stop  # noqa: E402
from bridge.embedded.server import EmbeddedPostgres  # noqa: E402

FIXTURES = ROOT / "tests/fixtures/freeswitch/xml_curl"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}
# Any change to extensions fires the NOTIFY trigger, so reused answers are dropped.
CHANGE = "UPDATE extensions SET cid_name = md5(random()::text) WHERE extn = $1"


async def post(url: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    # A new connection per request, as mod_xml_curl does.
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=FORM_TYPE) as r:
        await r.read()
        return r.status, time.perf_counter() - started


async def scenario(name: str, url: str, dsn: str, *, clients: int, duration: float, pid: int) -> None:
    sip_auth = (FIXTURES / "register_1001.form").read_bytes().replace(b"1001", str(FIRST).encode())
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    whole: list[float] = []

    async def auth() -> None:
        while time.monotonic() < deadline:
            status, took = await post(url, sip_auth)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(took)

    async def big() -> None:
        # In another process: reading 6 MB answers here would delay this loop's own timing.
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--hammer",
            url,
            "--clients",
            str(clients),
            "--duration",
            str(duration),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        whole.extend(float(x) for x in out.split())

    async def change() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            while time.monotonic() < deadline:
                await conn.execute(CHANGE, str(FIRST + 1))
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    await post(url, sip_auth)  # warm the one user
    tasks = [auth(), *([big()] if clients else [])]
    if name == "changing":
        tasks.append(change())
    await asyncio.gather(*tasks)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    print(
        f"{name:9} sip_auth n={len(latencies):5d} p50 {statistics.median(latencies) * 1e3:7.2f} ms"
        f"  p99 {p99 * 1e3:7.2f} ms  max {latencies[-1] * 1e3:7.2f} ms  statuses {statuses}"
        f" | list_users {len(whole):4d} answered,"
        f" p50 {statistics.median(whole) * 1e3 if whole else 0:7.1f} ms"
        f" | RSS {rss_mb(pid):6.1f} MiB"
    )


async def hammer(url: str, clients: int, duration: float) -> None:
    """list_users in a loop from ``clients`` clients; prints each answer's seconds."""
    body = (FIXTURES / "list_users.form").read_bytes()
    deadline = time.monotonic() + duration
    took: list[float] = []

    async def one() -> None:
        while time.monotonic() < deadline:
            status, seconds = await post(url, body)
            if status == 200:
                took.append(seconds)

    await asyncio.gather(*(one() for _ in range(clients)))
    print(" ".join(f"{t:.6f}" for t in took))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hammer", default="")
    parser.add_argument("--extensions", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    if args.hammer:
        asyncio.run(hammer(args.hammer, args.clients, args.duration))
        return
    server = EmbeddedPostgres(Path("/tmp") / f"bench-whole-{args.extensions}" / "data")
    dsn = server.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(seed(dsn, args.extensions))
        port = free_port()
        cmd = [sys.executable, "-m", "bridge", "--set", f"database.url={dsn}", "--set", "log.level=WARNING"]
        cmd += ["serve", "--port", str(port)]
        proc = start_in(args.tree, cmd, port)
        url = f"http://127.0.0.1:{port}/directory"
        print(f"tree {args.tree}  extensions {args.extensions}  list_users clients {args.clients}")
        # "quiet": no list_users client, the sip_auth latency of this machine right now.
        for name, clients in (("quiet", 0), ("static", args.clients), ("changing", args.clients)):
            asyncio.run(scenario(name, url, dsn, clients=clients, duration=args.duration, pid=proc.pid))
    finally:
        if proc is not None:
            stop(proc)
        server.stop()


def start_in(tree: Path, cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    # python -m bridge imports the bridge package of its working directory first.
    from bench import directory_bench

    directory_bench.ROOT = tree
    return start(cmd, port)


if __name__ == "__main__":
    main()
