"""Answers follow changes between requests: registrations (captured events) and extension rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import asyncpg

from bridge.api import catalog, shapes
from bridge.api.presence import PresenceCache, key
from bridge.registrations import events
from bridge.registrations.events import NodeChanged
from bridge.registrations.model import NodeState, Registration
from bridge.registrations.state import RegistrationState
from tests.api.conftest import Api, StartApi
from tests.api.helpers import DOMAIN, add_admin, auth, feed_captured, login
from tests.factories import add_extension
from tests.fakes.esl_server import frame_body
from tests.registrations import frames

NOW = 1795393500.0


def change_of(frame: bytes, node: str = "fs1") -> events.Change:
    content_type = "text/event-plain" if b"text/event-plain" in frame else "text/event-json"
    headers = events.parse_event_body(content_type, frame_body(frame))
    change = events.to_change(node, headers, now=NOW)
    assert change is not None
    return change


async def get(api: Api, url: str, **query: str) -> Any:
    response = await api.client.get(url, params=query, headers=auth(api.token))
    assert response.status == 200, await response.text()
    return await response.json()


async def online_and_offline(api: Api) -> tuple[list[str], list[str]]:
    online = await get(api, "/api/extensions", status="online")
    offline = await get(api, "/api/extensions", status="offline")
    return [r["extn"] for r in online["data"]], [r["extn"] for r in offline["data"]]


async def test_given_unregister_between_requests_then_status_and_list1_follow(api: Api) -> None:
    assert await online_and_offline(api) == (["1001", "1002"], ["1003"])
    api.state.apply(change_of(frames.UNREGISTER_1001))
    assert await online_and_offline(api) == (["1002"], ["1001", "1003"])
    list1 = await get(api, "/api/users/list1")
    assert [row["reg_user"] for row in list1["reg"]["rows"]] == ["1002"]
    assert list1["unreg"] == [{"extn": "1001", "status": "offline"}, {"extn": "1003", "status": "offline"}]


async def test_given_reregister_with_new_call_id_then_the_new_binding_is_listed_then_expires(
    api: Api,
) -> None:
    await get(api, "/api/users/list1")
    reregister = change_of(frames.REREGISTER_1002)
    assert isinstance(reregister, events.Registered)
    api.state.apply(reregister)
    list1 = await get(api, "/api/users/list1")
    rows = {row["reg_user"]: row for row in list1["reg"]["rows"]}
    assert list1["reg"]["row_count"] == 2
    assert rows["1002"] == reregister.registration.xui_row()
    api.state.apply(change_of(frames.EXPIRE_1002))
    assert await online_and_offline(api) == (["1001"], ["1002", "1003"])


async def test_given_extension_added_renamed_or_deleted_then_the_next_request_sees_it(
    api: Api, conn: asyncpg.Connection
) -> None:
    assert (await get(api, "/api/extensions"))["rowCount"] == 3
    await add_extension(conn, "1004", DOMAIN)
    page = await get(api, "/api/extensions", status="offline")
    assert [r["extn"] for r in page["data"]] == ["1003", "1004"]
    await conn.execute("UPDATE extensions SET deleted_at = now() WHERE extn = '1003'")
    await conn.execute("UPDATE extensions SET domain = 'other.test' WHERE extn = '1002'")
    users = await get(api, "/api/users/list")
    assert users == [{"extn": "1001", "status": "online"}, {"extn": "1004", "status": "offline"}]
    list1 = await get(api, "/api/users/list1")
    assert list1["unreg"] == [{"extn": "1004", "status": "offline"}]
    assert (await get(api, "/api/extensions"))["rowCount"] == 2


async def test_given_extn_with_tab_backslash_and_null_domain_then_listed_exactly_to_super_user_only(
    api: Api, conn: asyncpg.Connection, start_api: StartApi
) -> None:
    await add_admin(conn, "root", domain="other.test", is_super=1)
    odd = "a\tb\\c\nd"
    await add_extension(conn, odd, DOMAIN)
    await conn.execute("UPDATE extensions SET domain = NULL WHERE extn = '1003'")
    client = await start_api()
    token = await login(client, "root")
    users = await (await client.get("/api/users/list", headers=auth(token))).json()
    assert [row["extn"] for row in users] == ["1001", "1002", "1003", "2001", odd]
    mine = await get(api, "/api/users/list")
    assert [row["extn"] for row in mine] == ["1001", "1002", odd]


def test_copy_text_format_is_parsed_with_escapes_and_null() -> None:
    # Bytes as PostgreSQL's COPY TO STDOUT (text format) writes them.
    data = b"1\t1001\txswitch.test\n2\ta\\tb\\\\c\\nd\t\\N\n3\t\\101\\x42\tX.Test\n"
    assert catalog.parse_copy(data) == (
        [1, 2, 3],
        ["1001", "a\tb\\c\nd", "AB"],
        ["xswitch.test", None, "X.Test"],
    )
    built = catalog.Listing.of_columns(*catalog.parse_copy(data))
    assert built.keys == ["1001@xswitch.test", "a\tb\\c\nd@", "AB@x.test"]


def _registration(frame: bytes) -> Registration:
    change = change_of(frame)
    assert isinstance(change, events.Registered)
    return change.registration


def test_presence_cache_matches_the_state_after_every_captured_change() -> None:
    state = RegistrationState(["fs1", "fs2"], clock=lambda: NOW)
    cache = PresenceCache(state)
    state.subscribe(cache.on_delta)
    sequence: list[events.Change] = [
        NodeChanged("fs1", NodeState.UP, NOW),
        change_of(frames.REGISTER_1001),
        change_of(frames.REGISTER_1002),
        change_of(frames.REGISTER_1001),  # the same binding again: nothing changes
        change_of(frames.REREGISTER_1002),
        change_of(frames.REGISTER_1001, node="fs2"),  # fs2 not up: not visible
        NodeChanged("fs2", NodeState.UP, NOW),
        change_of(frames.UNREGISTER_1001),
        NodeChanged("fs1", NodeState.DOWN, NOW),
        change_of(frames.EXPIRE_1002),
        NodeChanged("fs1", NodeState.UP, NOW),
        change_of(frames.REGISTER_1002),
        change_of(frames.UNREGISTER_1001, node="fs2"),
        # The same binding moved to another domain: it leaves the first domain's scope.
        events.Registered("fs1", replace(_registration(frames.REGISTER_1002), realm="Other.Test")),
    ]
    for step, change in enumerate(sequence):
        state.apply(change)
        seen = cache.read(None)
        regs = state.all_registrations()
        expected = frozenset(key(r.reg_user, r.realm) for r in regs)
        assert (step, seen.online) == (step, expected)
        assert sorted(map(id, seen.registrations)) == sorted(map(id, regs))
        assert seen.absent == shapes.offline_word(state.nodes())
        assert seen.rows_json().startswith(b"[")
        for domain in (DOMAIN.upper(), "other.TEST"):
            scoped = cache.read(domain).registrations
            assert sorted(map(id, scoped)) == sorted(id(r) for r in regs if r.realm.lower() == domain.lower())


async def test_given_node_down_then_up_between_requests_then_picture_is_rebuilt(api: Api) -> None:
    assert await online_and_offline(api) == (["1001", "1002"], ["1003"])
    api.state.apply(NodeChanged("fs1", NodeState.DOWN, at=NOW))
    unknown = await get(api, "/api/extensions", status="unknown")
    assert [r["extn"] for r in unknown["data"]] == ["1001", "1002", "1003"]
    feed_captured(api.state)
    assert await online_and_offline(api) == (["1001", "1002"], ["1003"])
