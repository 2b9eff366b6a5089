"""Extension lists: paging edges, filters, live status from the registration state, node down, scope."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from bridge.keys import METRICS
from bridge.registrations.events import NodeChanged
from bridge.registrations.model import NodeState
from tests.api.conftest import Api, StartApi
from tests.api.helpers import DOMAIN, add_admin, auth, login
from tests.factories import add_extension
from tests.support.client import Client


async def get(api: Api, url: str, **query: str) -> tuple[int, Any]:
    response = await api.client.get(url, params=query, headers=auth(api.token))
    return response.status, await response.json()


def extns(body: dict[str, Any]) -> list[str]:
    return [row["extn"] for row in body["data"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"page": "0", "page_size": "2"}, (1, 2, ["1001", "1002"])),
        ({"page": "2", "page_size": "2"}, (2, 2, ["1003"])),
        ({"page": "9", "page_size": "2"}, (9, 2, [])),
        ({"page_size": "0"}, (1, 1, ["1001", "1002", "1003"])),
        ({"page_size": "-5"}, (1, 1, ["1001", "1002", "1003"])),
        ({"page_size": "99999999"}, (1, 1, ["1001", "1002", "1003"])),
    ],
    ids=["page-0-is-1", "second-page", "past-the-end", "size-0-is-default", "negative-size", "huge-size"],
)
async def test_paging_edges(api: Api, query: dict[str, str], expected: tuple[int, int, list[str]]) -> None:
    status, body = await get(api, "/api/extensions", **query)
    assert status == 200
    assert (body["page"], body["pageCount"], extns(body)) == expected
    assert body["rowCount"] == 3


async def test_page_size_is_capped_at_1000(api: Api, conn: asyncpg.Connection) -> None:
    user_id = await conn.fetchval("SELECT id FROM users WHERE login = 'admin'")
    await conn.executemany(
        "INSERT INTO extensions (extn, domain, user_id) VALUES ($1, $2, $3)",
        [(f"5{i:04d}", DOMAIN, user_id) for i in range(1000)],
    )
    status, body = await get(api, "/api/extensions", page_size="5000")
    assert (status, len(body["data"]), body["rowCount"], body["pageCount"]) == (200, 1000, 1003, 2)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "online"}, ["1001", "1002"]),
        ({"status": "offline"}, ["1003"]),
        ({"status": "online", "extn": "1002"}, ["1002"]),
        ({"status": "offline", "extn": "1002"}, []),
        ({"name": "100"}, ["1001", "1002", "1003"]),
        ({"name": "3", "status": "offline"}, ["1003"]),
        ({"extn": "1001' OR '1'='1"}, []),
        ({"name": "%"}, []),
    ],
    ids=[
        "online",
        "offline",
        "online-extn",
        "offline-extn",
        "name",
        "name-offline",
        "sql-looking",
        "like-wildcard",
    ],
)
async def test_filters_and_combinations(api: Api, query: dict[str, str], expected: list[str]) -> None:
    status, body = await get(api, "/api/extensions", **query)
    assert (status, extns(body), body["rowCount"]) == (200, expected, len(expected))


async def test_unknown_status_value_is_400_in_the_error_shape(api: Api) -> None:
    status, body = await get(api, "/api/extensions", status="busy")
    assert status == 400
    assert body == {"code": 400, "text": body["text"], "message": body["text"]}
    assert "online" in body["text"]


@pytest.mark.parametrize("raw", ["extn=%FF%FE", "name=%00", "page=abc"], ids=["non-utf8", "nul", "not-int"])
async def test_malformed_input_is_400_never_500(api: Api, raw: str) -> None:
    response = await api.client.get(f"/api/extensions?{raw}", headers=auth(api.token))
    assert response.status == 400
    assert (await response.json())["code"] == 400


@pytest.mark.parametrize(
    "path", ["/api/extensions/999999", "/api/extensions/99999999999", "/api/extensions/x"]
)
async def test_unknown_extension_id_is_404_not_found(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=auth(api.token))
    assert response.status == 404
    assert await response.json() == {"code": 404, "text": "not found", "message": "not found"}


async def test_users_list_extn_unknown_is_404_not_found(api: Api) -> None:
    status, body = await get(api, "/api/users/list", extn="9999")
    assert (status, body["code"], body["message"]) == (404, 404, "not found")


async def test_given_node_down_when_listing_then_absent_ones_are_unknown_and_node_shown(api: Api) -> None:
    api.state.apply(NodeChanged("fs1", NodeState.DOWN, at=1_700_000_100.0, error="connection refused"))
    _, page = await get(api, "/api/extensions")
    assert [row["status"] for row in page["data"]] == ["unknown", "unknown", "unknown"]
    assert [(n["name"], n["state"]) for n in page["nodes"]] == [("fs1", "down")]
    _, offline = await get(api, "/api/extensions", status="offline")
    _, unknown = await get(api, "/api/extensions", status="unknown")
    # offline is "not online" (what an XUI client means); unknown is the honest subset.
    assert (extns(offline), extns(unknown)) == (["1001", "1002", "1003"], ["1001", "1002", "1003"])
    _, list1 = await get(api, "/api/users/list1")
    assert list1["reg"] == {"row_count": 0, "rows": []}
    assert {row["status"] for row in list1["unreg"]} == {"unknown"}
    _, users = await get(api, "/api/users/list")
    assert {row["status"] for row in users} == {"unknown"}


async def test_given_node_back_up_then_statuses_are_certain_again(api: Api) -> None:
    api.state.apply(NodeChanged("fs1", NodeState.DOWN, at=1_700_000_100.0))
    api.state.apply(NodeChanged("fs1", NodeState.UP, at=1_700_000_200.0))
    _, page = await get(api, "/api/extensions")
    assert [row["status"] for row in page["data"]] == ["online", "online", "offline"]


async def test_domain_admin_sees_only_its_domain_and_super_user_sees_all(
    api: Api, conn: asyncpg.Connection, start_api: StartApi
) -> None:
    _, mine = await get(api, "/api/extensions")
    assert extns(mine) == ["1001", "1002", "1003"]
    other_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '2001'")
    assert (await get(api, f"/api/extensions/{other_id}"))[0] == 404
    assert (await get(api, "/api/users/list", extn="2001"))[0] == 404

    await add_admin(conn, "root", domain="other.test", is_super=1)
    client: Client = await start_api()
    token = await login(client, "root")
    body = await (await client.get("/api/extensions", headers=auth(token))).json()
    assert extns(body) == ["1001", "1002", "1003", "2001"]
    list1 = await (await client.get("/api/users/list1", headers=auth(token))).json()
    assert list1["unreg"] == [{"extn": "1003", "status": "offline"}, {"extn": "2001", "status": "offline"}]


async def test_registrations_of_another_realm_do_not_make_an_extension_online(
    api: Api, conn: asyncpg.Connection
) -> None:
    await add_extension(conn, "1001", "other.test")
    await conn.execute("UPDATE users SET is_super = 1 WHERE login = 'admin'")
    _, body = await get(api, "/api/extensions", extn="1001")
    assert [(row["domain"], row["status"]) for row in body["data"]] == [
        (DOMAIN, "online"),
        ("other.test", "offline"),
    ]


async def test_requests_are_counted_by_route_template_and_status(api: Api, conn: asyncpg.Connection) -> None:
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    await get(api, f"/api/extensions/{ext_id}")
    await get(api, "/api/extensions/999999")
    await get(api, "/api/nothing-here")
    await get(api, "/api")  # the sub-app's prefix itself: no route either
    app = api.client.app
    assert app is not None
    registry = app[METRICS].registry

    def count(route: str, status: str) -> float | None:
        return registry.get_sample_value("bridge_api_requests_total", {"route": route, "status": status})

    assert count(r"/api/extensions/{id}", "200") == 1
    assert count(r"/api/extensions/{id}", "404") == 1
    assert count("unmatched", "404") == 2
    assert count("/api/sessions", "200") == 1
