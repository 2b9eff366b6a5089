"""The extension catalog follows writes by re-reading only the rows changed (sql/085), each
scope read once, one reload shared by concurrent requests, 503 when it cannot be read."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from bridge.api.catalog import Listing
from bridge.api.catalog_store import CatalogStore
from bridge.api.keys import API_CATALOG
from bridge.errors import DatabaseUnavailable
from tests.api.conftest import Api, StartApi
from tests.api.helpers import DOMAIN, add_admin, auth, login
from tests.factories import add_extension
from tests.support.client import Client
from tests.support.metrics import app_sample

KINDS = ("changes", "scope", "whole")


def reads(client: Client) -> dict[str, tuple[int, int]]:
    """bridge_api_catalog_{reloads,rows}_total by kind: (reloads, rows read)."""
    assert client.app is not None
    return {
        kind: (
            int(app_sample(client.app, "bridge_api_catalog_reloads_total", kind=kind)),
            int(app_sample(client.app, "bridge_api_catalog_rows_total", kind=kind)),
        )
        for kind in KINDS
    }


def store_of(client: Client) -> CatalogStore:
    assert client.app is not None
    api: web.Application = next(
        r.get_info()["app"] for r in client.app.router.resources() if "app" in r.get_info()
    )
    return api[API_CATALOG]


async def get(client: Client, token: str, url: str, **query: str) -> Any:
    response = await client.get(url, params=query, headers=auth(token))
    assert response.status == 200, await response.text()
    return await response.json()


async def live(conn: asyncpg.Connection, domain: str | None) -> list[str]:
    """What PostgreSQL says the scope holds, in id order."""
    rows = await conn.fetch(
        "SELECT extn FROM extensions WHERE deleted_at IS NULL AND ($1::text IS NULL OR domain = $1)"
        " ORDER BY id",
        domain,
    )
    return [row["extn"] for row in rows]


async def listed(client: Client, token: str) -> list[str]:
    return [row["extn"] for row in await get(client, token, "/api/users/list")]


async def test_given_writes_of_every_kind_then_lists_follow_reading_only_the_changed_rows(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_admin(conn, "root", domain="other.test", is_super=1)
    root = await login(api.client, "root")
    assert await listed(api.client, api.token) == await live(conn, DOMAIN)
    assert await listed(api.client, root) == await live(conn, None)
    # Each scope read whole once: the domain's 3 rows, then every domain's 4 (with the
    # domain's brought to that snapshot: a read of changes, none).
    assert reads(api.client) == {"changes": (1, 0), "scope": (2, 7), "whole": (0, 0)}

    writes = [
        ("insert", "INSERT_1004", 1),
        ("delete", "UPDATE extensions SET deleted_at = now() WHERE extn = '1003'", 0),
        ("extn changed", "UPDATE extensions SET extn = '1012' WHERE extn = '1002'", 1),
        (
            "domain changed away",
            f"UPDATE extensions SET domain = 'other.test' WHERE extn = '1001' AND domain = '{DOMAIN}'",
            1,
        ),
        # 2001 has a lower id than 1004: placed among the domain's rows, not appended.
        ("domain changed in", f"UPDATE extensions SET domain = '{DOMAIN}' WHERE extn = '2001'", 1),
        ("row deleted", "DELETE FROM extensions WHERE extn = '1012'", 0),
        ("nothing listed changed", "UPDATE extensions SET domain = domain, name = 'n'", 0),
    ]
    changes, rows = 1, 0
    for what, statement, fresh in writes:
        if statement == "INSERT_1004":
            await add_extension(conn, "1004", DOMAIN)
        else:
            await conn.execute(statement)
        for token, scope in ((api.token, DOMAIN), (root, None)):
            assert (what, await listed(api.client, token)) == (what, await live(conn, scope))
        changes, rows = changes + 1, rows + fresh
        assert (what, reads(api.client)) == (
            what,
            {"changes": (changes, rows), "scope": (2, 7), "whole": (0, 0)},
        )
    assert await listed(api.client, api.token) == ["2001", "1004"]
    offline = await get(api.client, api.token, "/api/extensions", status="offline")
    assert [row["extn"] for row in offline["data"]] == ["2001", "1004"]
    list1 = await get(api.client, api.token, "/api/users/list1")
    assert [row["extn"] for row in list1["unreg"]] == ["2001", "1004"]


async def test_given_truncate_then_every_scope_is_read_whole_again(
    api: Api, conn: asyncpg.Connection
) -> None:
    assert await listed(api.client, api.token) == ["1001", "1002", "1003"]
    await conn.execute("TRUNCATE extensions CASCADE")
    await add_extension(conn, "1009", DOMAIN)
    token = await login(api.client)  # CASCADE emptied bridge_api_tokens too
    assert await listed(api.client, token) == ["1009"]
    assert reads(api.client)["whole"] == (1, 1)


async def test_given_the_log_pruned_past_the_snapshot_then_the_scope_is_read_whole(
    api: Api, conn: asyncpg.Connection
) -> None:
    assert await listed(api.client, api.token) == ["1001", "1002", "1003"]
    # As a prune by another instance records it: rows up to this xid may be gone.
    await conn.execute(
        "INSERT INTO bridge_extension_changes_pruned (below) VALUES (pg_current_xact_id())"
        " ON CONFLICT (one) DO UPDATE SET below = excluded.below"
    )
    await add_extension(conn, "1004", DOMAIN)
    assert await listed(api.client, api.token) == ["1001", "1002", "1003", "1004"]
    assert reads(api.client)["whole"] == (1, 4)
    assert reads(api.client)["changes"] == (0, 0)


async def test_given_day_old_log_rows_then_the_first_reload_prunes_them_and_records_the_watermark(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn)
    await add_extension(conn, "1001", DOMAIN)
    old = "now() - interval '2 days'"
    await conn.execute(
        f"INSERT INTO bridge_extension_changes (xid, changed_at) VALUES ('5', {old}), ('7', {old})"
    )
    await conn.execute("INSERT INTO bridge_extension_changed_ids (xid, id) VALUES ('7', 1), ('8', 1)")
    client = await start_api()
    assert await listed(client, await login(client)) == ["1001"]
    assert await conn.fetchval("SELECT count(*) FROM bridge_extension_changes WHERE xid <= '7'") == 0
    # Transaction 7's ids went with it; 8 (not a day old) and the fresh 1001's insert stay.
    assert await conn.fetchval("SELECT count(*) FROM bridge_extension_changed_ids") == 2
    assert await conn.fetchval("SELECT below::text FROM bridge_extension_changes_pruned") == "7"


async def test_given_requests_during_a_reload_then_they_share_it(api: Api) -> None:
    store = store_of(api.client)
    first = await asyncio.gather(*(store.current(DOMAIN) for _ in range(5)))
    assert all(catalog is first[0] for catalog in first)
    assert reads(api.client) == {"changes": (0, 0), "scope": (1, 3), "whole": (0, 0)}
    answers = await asyncio.gather(
        *(api.client.get("/api/users/list1", headers=auth(api.token)) for _ in range(8))
    )
    assert [answer.status for answer in answers] == [200] * 8
    assert reads(api.client)["scope"] == (1, 3)


async def test_given_writes_during_concurrent_requests_then_each_answer_holds_the_writes_committed_before_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    await listed(api.client, api.token)
    for n in range(5):
        extn = f"150{n}"
        await add_extension(conn, extn, DOMAIN)
        answers = await asyncio.gather(*(listed(api.client, api.token) for _ in range(4)))
        assert all(extn in answer for answer in answers)
    assert reads(api.client)["scope"] == (1, 3)


@pytest.mark.parametrize("first_read", [True, False], ids=["scope-read", "changes-read"])
async def test_given_extensions_locked_past_the_timeout_then_unavailable_then_the_writes_once_released(
    conn: asyncpg.Connection, start_api: StartApi, database_url: str, first_read: bool
) -> None:
    # The store itself: with extensions locked, the token check (it joins extensions) would
    # answer the 503 before the catalog is asked. The edge turns DatabaseUnavailable into
    # 503 "database unavailable" (tests/test_stall.py).
    await add_admin(conn)
    await add_extension(conn, "1001", DOMAIN)
    client = await start_api(database__query_timeout="1")  # the catalog's reads: 4 s
    token = await login(client)
    store = store_of(client)
    if not first_read:
        assert [listing.extns for listing in (await store.current(DOMAIN)).scopes.values()] == [["1001"]]
        await add_extension(conn, "1002", DOMAIN)
    locker = await asyncpg.connect(database_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE extensions IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                await store.current(DOMAIN)
            assert time.monotonic() - started < 30
    finally:
        await locker.close()
    expected = ["1001"] if first_read else ["1001", "1002"]
    assert (await store.current(DOMAIN)).scope(DOMAIN).extns == expected
    assert await listed(client, token) == expected


def test_patched_listing_equals_the_listing_read_again() -> None:
    rng = random.Random(85)
    for case in range(300):
        size = rng.choice([0, 1, 5, 50, 400])
        rows = {n * 3: (f"e{n}", rng.choice(["a.test", "b.test"])) for n in range(1, size + 1)}
        listing = Listing.of([(i, e, d) for i, (e, d) in sorted(rows.items())])
        changed = set(rng.sample(sorted(rows), min(len(rows), rng.choice([0, 1, 3, 40, 200]))))
        changed |= {rng.randrange(1, 3 * size + 100) for _ in range(rng.choice([0, 2, 70]))}
        for ext_id in changed:
            if rng.random() < 0.4:
                rows.pop(ext_id, None)
            else:
                rows[ext_id] = (f"x{ext_id}", "a.test")
        fresh = [(i, *rows[i]) for i in sorted(changed) if i in rows]
        patched = listing.patched(changed, fresh)
        again = Listing.of([(i, e, d) for i, (e, d) in sorted(rows.items())])
        assert (case, patched.ids, patched.extns, patched.keys) == (case, again.ids, again.extns, again.keys)


def test_untouched_listing_is_kept_with_what_it_memoised() -> None:
    listing = Listing.of([(1, "1001", DOMAIN), (2, "1002", DOMAIN)])
    online = frozenset({"1001@" + DOMAIN})
    assert listing.online_positions(online) == [0]
    assert listing.patched({7}, []) is listing
    assert listing.patched({2}, []).ids == [1]
