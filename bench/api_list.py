"""Admin API list speed: list1 and /api/extensions?status=online over 100,000 extensions, 50,000 online.

Run by hand:  .venv/bin/python -m bench.api_list [--extensions 100000] [--online 50000] [--rounds 20]
Starts an embedded PostgreSQL in a temporary directory (or uses BENCH_DATABASE_URL), builds
the real app on a real socket, and prints each endpoint's time per request (over the socket,
read as raw bytes) beside the time to serialise the same answer with no lookup work (the
floor), with the standard json module and with orjson, as ratios.

Three states: "steady" (nothing changed between requests: the API's caches hold); "after a
REGISTER" (one binding re-registers before each request: the presence picture is rebuilt);
"after a write" (the extension in the middle deleted, or brought back, before each request:
the extension catalog reads that row again). The untimed change is made before each timed request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp.test_utils import TestClient, TestServer

from bridge import db
from bridge.app import create_app
from bridge.config import load_config
from bridge.embedded.server import EmbeddedPostgres
from bridge.hashes import login_sha1
from bridge.keys import DATABASE
from bridge.registrations.events import NodeChanged, Registered, Snapshot
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.model import NodeState, Registration
from bridge.registrations.state import RegistrationState

DOMAIN = "bench.test"
PASSWORD = "Bench-pw-1"


async def seed(url: str, extensions: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await db.upgrade(conn)
        user_id = await conn.fetchval(
            "INSERT INTO users (login, domain, salt, sha1, is_admin) VALUES ('bench', $1, 's', $2, true)"
            " RETURNING id",
            DOMAIN,
            login_sha1("bench", PASSWORD, "s"),
        )
        await conn.copy_records_to_table(
            "extensions",
            records=[
                (f"{100000 + i}", f"{100000 + i}", DOMAIN, "context-1", user_id) for i in range(extensions)
            ],
            columns=["extn", "name", "domain", "context", "user_id"],
        )
        await conn.execute("ANALYZE extensions")
    finally:
        await conn.close()


def registration(i: int, expires: int) -> Registration:
    return Registration(
        url=f"sofia/internal/sip:{100000 + i}@10.0.{i // 250 % 250}.{i % 250}:5060",
        expires=str(expires),
        token=f"call-{i}",
        reg_user=f"{100000 + i}",
        network_proto="udp",
        metadata="",
        hostname="fs1",
        network_port="5060",
        realm=DOMAIN,
        network_ip=f"10.0.{i // 250 % 250}.{i % 250}",
        node="fs1",
        profile="internal",
        user_agent="bench",
        status="Registered(UDP)",
        contact="",
    )


def feed(state: RegistrationState, online: int, extensions: int) -> None:
    """Bring node fs1 up with ``online`` bindings, every other extension's."""
    state.apply(NodeChanged("fs1", NodeState.UP, at=time.time()))
    step = max(1, extensions // online)
    expires = int(time.time()) + 3600
    regs = tuple(registration(i, expires) for i in range(0, extensions, step))[:online]
    state.apply(Snapshot("fs1", regs))


async def timed(
    call: Callable[[], Awaitable[Any]], rounds: int, before: Callable[[], Awaitable[None]] | None = None
) -> tuple[float, Any]:
    await call()  # warm caches and plans
    samples = []
    result = None
    for _ in range(rounds):
        if before is not None:
            await before()
        start = time.perf_counter()
        result = await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


async def run(url: str, extensions: int, online: int, rounds: int) -> None:
    await seed(url, extensions)
    config = load_config(
        overrides={
            "database.url": url,
            "database.query_timeout": os.environ.get("BENCH_QUERY_TIMEOUT", "0.5"),
            # The directory's warm start would read the 100,000 rows on this same event loop
            # during the first seconds of measurement: the API's figures, not the warm-up's.
            "directory.warmup": "false",
        }
    )
    app = create_app(config)
    async with TestClient(TestServer(app)) as client:
        state = app[REGISTRATIONS]
        assert isinstance(state, RegistrationState)
        feed(state, online, extensions)
        response = await client.post("/api/sessions", json={"login": "bench", "password": PASSWORD})
        headers = {"X-XTRA-AUTH-ID": (await response.json())["token"]}
        print(f"extensions={extensions} online={online} rounds={rounds} (median per request)")
        print(f"database.query_timeout={config.database.query_timeout}")
        counter = iter(range(1, 10**9))

        async def register() -> None:
            # A refresh of one binding: same Call-ID, a later expiry (a new Registration object).
            state.apply(Registered("fs1", registration(0, int(time.time()) + 3600 + next(counter))))

        async def write() -> None:
            # The extension in the middle deleted, or brought back: a row the catalog reads again.
            await app[DATABASE].execute(
                "UPDATE extensions SET deleted_at = CASE WHEN deleted_at IS NULL THEN now() END"
                " WHERE id = $1",
                extensions // 2,
            )

        for label, path in (
            ("list1", "/api/users/list1"),
            ("extensions?status=online", "/api/extensions?status=online&page=2&page_size=10"),
            ("extensions?status=offline", "/api/extensions?status=offline&page=2&page_size=10"),
            ("extensions (no filter)", "/api/extensions?page=2&page_size=10"),
        ):

            async def get(path: str = path) -> bytes:
                # Raw bytes: the client's own JSON parsing is not the server's time.
                async with client.get(path, headers=headers) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.read()

            server, raw = await timed(get, rounds)
            body = json.loads(raw)

            async def with_json(body: Any = body) -> str:
                return json.dumps(body)

            async def with_orjson(body: Any = body) -> bytes:
                return orjson.dumps(body)

            floor, _ = await timed(with_json, rounds)
            floor_or, _ = await timed(with_orjson, rounds)
            print(
                f"  {label:27s} {'steady':14s} {server * 1000:8.2f} ms  json {floor * 1000:7.2f} ms"
                f" ({server / floor:6.1f}x)  orjson {floor_or * 1000:7.2f} ms ({server / floor_or:6.1f}x)"
                f"  {_rows(body)}"
            )
            for state_label, change in (("after REGISTER", register), ("after a write", write)):
                changed, _ = await timed(get, rounds, before=change)
                print(
                    f"  {label:27s} {state_label:14s} {changed * 1000:8.2f} ms"
                    f"  ({changed / floor:6.1f}x json, {changed / floor_or:6.1f}x orjson)"
                )


def _rows(body: dict[str, Any]) -> str:
    if "reg" in body:
        return f"reg={body['reg']['row_count']} unreg={len(body['unreg'])}"
    return f"rowCount={body['rowCount']} page={len(body['data'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extensions", type=int, default=100_000)
    parser.add_argument("--online", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        asyncio.run(run(external, args.extensions, args.online, args.rounds))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data")
        server.start()
        try:
            asyncio.run(run(server.dsn, args.extensions, args.online, args.rounds))
        finally:
            server.remove()


if __name__ == "__main__":
    main()
