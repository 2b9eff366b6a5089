"""Login timing: a wrong password for a known login against any password for an unknown one.

Run by hand:  .venv/bin/python -m bench.login_timing [--rounds 2000]
Starts an embedded PostgreSQL in a temporary directory (or uses BENCH_DATABASE_URL), builds
the real app on a real socket, and sends interleaved failed logins (known, unknown, known, ...)
so drift on a shared machine hits both alike. Prints the median and p90 of each, their ratio,
and how often one request is classified right by the best threshold between the two
(50 % = cannot tell them apart). The lock and source limits are raised out of the way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from bridge import db
from bridge.app import create_app
from bridge.config import load_config
from bridge.embedded.server import EmbeddedPostgres
from bridge.hashes import login_sha1

SALT = "$1$p0htFRHX"


async def seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await db.upgrade(conn)
        await conn.execute(
            "INSERT INTO users (login, domain, salt, sha1, is_admin)"
            " VALUES ('admin', 'bench.test', $1, $2, true)",
            SALT,
            login_sha1("admin", "XSwitch.cn/6753997", SALT),
        )
    finally:
        await conn.close()


def best_split(known: list[float], unknown: list[float]) -> float:
    """Share of requests one threshold classifies right (either orientation)."""
    tagged = sorted([(t, 1) for t in known] + [(t, 0) for t in unknown])
    total, best = len(tagged), 0.5
    below_known = below_unknown = 0
    for _, is_known in tagged:
        below_known += is_known
        below_unknown += 1 - is_known
        # "below the threshold is known" or "below is unknown"
        right = max(below_known + (len(unknown) - below_unknown), below_unknown + (len(known) - below_known))
        best = max(best, right / total)
    return best


async def run(url: str, rounds: int) -> None:
    await seed(url)
    config = load_config(
        overrides={
            "database.url": url,
            "api.max_login_attempts": "1000000000",
            "api.max_source_failures": "1000000000",
        }
    )
    async with TestClient(TestServer(create_app(config))) as client:
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        for i in range(rounds + 100):
            for kind, login in (("known", "admin"), ("unknown", "nobody-here")):
                started = time.perf_counter()
                response = await client.post("/api/sessions", data={"login": login, "password": f"wrong-{i}"})
                await response.read()
                elapsed = time.perf_counter() - started
                assert response.status == 403, response.status
                if i >= 100:  # warm-up
                    timings[kind].append(elapsed * 1e3)
        for kind, values in timings.items():
            q = statistics.quantiles(values, n=10)
            print(f"{kind:8} median {statistics.median(values):.3f} ms  p90 {q[8]:.3f} ms  n={len(values)}")
        ratio = statistics.median(timings["known"]) / statistics.median(timings["unknown"])
        print(f"known/unknown median ratio {ratio:.3f}")
        split = best_split(timings["known"], timings["unknown"])
        print(f"one request told apart by the best threshold: {split:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        asyncio.run(run(external, args.rounds))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data")
        server.start()
        try:
            asyncio.run(run(server.dsn, args.rounds))
        finally:
            server.remove()


if __name__ == "__main__":
    main()
