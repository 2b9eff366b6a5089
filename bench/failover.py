"""Failover after SIGKILL: how long a node goes unfollowed when its follower is killed.

    .venv/bin/python bench/failover.py [--kills 10] [--instances 2] [--nodes 1]

Starts ``--instances`` real ``bridge serve`` processes on one PostgreSQL (DATABASE_URL, or
an embedded one in a temporary directory) following ``--nodes`` fake Event Sockets
(tests/fakes/esl_server.py, the captured snapshot), spread over them. Then, ``--kills``
times: SIGKILL the instance following the most nodes (``/readyz`` says ``up``), and time
until every node is ``up`` on a survivor (polled every 5 ms); start a fresh instance in its
place and wait until the nodes are spread again. Prints each takeover, median and max.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bridge import db
from bridge.embedded.server import EmbeddedPostgres
from tests.fakes.esl_server import SNAPSHOT_LIVE, FakeEslServer

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def node_states(port: int) -> dict[str, str]:
    """Each node's state as the instance on ``port`` reports it ({} while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    except (OSError, ValueError):
        return {}
    nodes = body.get("components", {}).get("freeswitch", {}).get("nodes", {})
    return {name: detail["state"] for name, detail in nodes.items()}


class Instance:
    def __init__(self, url: str, nodes: str) -> None:
        self.port = free_port()
        settings = {
            "database.url": url,
            "freeswitch.nodes": nodes,
            "freeswitch.takeover_interval": "0.2",
            "freeswitch.reconnect_initial": "0.02",
        }
        argv = [sys.executable, "-m", "bridge", "serve", "--port", str(self.port)]
        for key, value in settings.items():
            argv += ["--set", f"{key}={value}"]
        self.argv = argv
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )

    async def states(self) -> dict[str, str]:
        return await asyncio.to_thread(node_states, self.port)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


async def wait_for(check, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def following(instances: list[Instance]) -> Instance:
    """The instance following the most nodes."""
    counts = [sum(v == "up" for v in (await i.states()).values()) for i in instances]
    return instances[counts.index(max(counts))]


async def run(url: str, kills: int, count: int, node_count: int) -> None:
    fakes = [await FakeEslServer(snapshot=SNAPSHOT_LIVE).start() for _ in range(node_count)]
    names = [f"fs{i + 1}" for i in range(node_count)]
    nodes = ",".join(fake.url(name) for fake, name in zip(fakes, names, strict=True))
    instances = [Instance(url, nodes) for _ in range(count)]
    try:
        for instance in instances:
            await instance.start()

        async def settled() -> bool:
            """Every node up on exactly one instance, standby on the others."""
            states = [await i.states() for i in instances]
            if not all(len(s) == node_count and set(s.values()) <= {"up", "standby"} for s in states):
                return False
            return all(sum(s[name] == "up" for s in states) == 1 for name in names)

        await wait_for(settled, "one follower and standbys")
        took: list[float] = []
        respread: list[float] = []  # a fresh process started until the nodes are spread again
        for round_ in range(kills):
            follower = await following(instances)
            others = [i for i in instances if i is not follower]
            await follower.kill()
            started = time.monotonic()

            async def taken(others: list[Instance] = others) -> bool:
                merged: dict[str, bool] = dict.fromkeys(names, False)
                for other in others:
                    for name, state in (await other.states()).items():
                        merged[name] = merged[name] or state == "up"
                return all(merged.values())

            await wait_for(taken, f"takeover {round_ + 1}")
            took.append(time.monotonic() - started)
            print(f"kill {round_ + 1:2d}: followed again after {took[-1] * 1000:5.0f} ms", flush=True)
            replacement = Instance(url, nodes)
            instances[instances.index(follower)] = replacement
            started = time.monotonic()
            await replacement.start()
            await wait_for(settled, "the nodes spread again")
            respread.append(time.monotonic() - started)
        print(
            f"takeover after SIGKILL over {kills} kills ({count} instances, {node_count} node(s)):"
            f" median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms"
            " (includes the /readyz poll: up to one HTTP round trip per instance)"
        )
        print(
            f"a fresh instance started until the nodes are spread again (process start-up included):"
            f" median {statistics.median(respread):.1f} s, max {max(respread):.1f} s"
        )
    finally:
        for instance in instances:
            await instance.kill()
        for fake in fakes:
            await fake.close()


async def prepared(url: str) -> str:
    name = f"bench_failover_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    target = url.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(target)
    try:
        await db.upgrade(conn)
    finally:
        await conn.close()
    return target


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A new database with bridge's schema (``prepared``) on DATABASE_URL's server, or on an
    embedded PostgreSQL in a temporary directory, removed on the way out (Ctrl-C included).
    Shared by the issue 25 scripts (scale_registrations.py, mirror_pass.py)."""
    url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if url is None:
            server = EmbeddedPostgres(Path(tmp) / "pgdata")
            server.start()
            url = server.dsn
        try:
            yield asyncio.run(prepared(url))
        finally:
            if server is not None:
                server.remove()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    with database() as target:
        asyncio.run(run(target, args.kills, args.instances, args.nodes))


if __name__ == "__main__":
    main()
