"""Where status comes from: no FreeSWITCH configured says so; api.unknown_status serves
clients that know only the document's online/offline."""

from __future__ import annotations

from typing import Any

import asyncpg

from bridge.registrations.events import NodeChanged
from bridge.registrations.keys import REGISTRATIONS
from bridge.registrations.model import NodeState
from bridge.registrations.state import RegistrationState
from tests.api.conftest import StartApi
from tests.api.helpers import DOMAIN, add_admin, auth, login
from tests.conftest import AppClient
from tests.factories import add_extension
from tests.support.client import Client


async def _get(client: Client, token: str, path: str, **query: str) -> Any:
    response = await client.get(path, params=query, headers=auth(token))
    assert response.status == 200
    return await response.json()


async def _no_freeswitch(
    conn: asyncpg.Connection, app_client: AppClient, **overrides: str
) -> tuple[Client, str]:
    owner = await add_admin(conn)
    for extn in ("1001", "1002"):
        await add_extension(conn, extn, DOMAIN, user_id=owner)
    client = await app_client(**overrides)  # no freeswitch.nodes, no captured state fed
    return client, await login(client)


async def test_given_no_freeswitch_configured_then_readyz_says_status_has_no_source(
    conn: asyncpg.Connection, app_client: AppClient
) -> None:
    client, _ = await _no_freeswitch(conn, app_client)
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200 and body["status"] == "degraded"
    component = body["components"]["freeswitch"]
    assert (component["status"], component["critical"], component["nodes"]) == ("degraded", False, {})
    assert "no FreeSWITCH configured" in component["error"]


async def test_given_no_freeswitch_configured_then_the_api_says_unknown_not_offline(
    conn: asyncpg.Connection, app_client: AppClient
) -> None:
    client, token = await _no_freeswitch(conn, app_client)
    assert await _get(client, token, "/api/users/list") == [
        {"extn": "1001", "status": "unknown"},
        {"extn": "1002", "status": "unknown"},
    ]
    page = await _get(client, token, "/api/extensions")
    assert ([r["status"] for r in page["data"]], page["nodes"]) == (["unknown", "unknown"], [])
    # offline means "not online" for a client that knows two words: the rows keep their truth.
    offline = await _get(client, token, "/api/extensions", status="offline")
    assert [(r["extn"], r["status"]) for r in offline["data"]] == [("1001", "unknown"), ("1002", "unknown")]
    unknown = await _get(client, token, "/api/extensions", status="unknown")
    assert [r["extn"] for r in unknown["data"]] == ["1001", "1002"]


async def test_given_unknown_status_offline_then_xui_clients_see_offline_and_can_filter_it(
    conn: asyncpg.Connection, app_client: AppClient
) -> None:
    client, token = await _no_freeswitch(conn, app_client, api__unknown_status="offline")
    assert {r["status"] for r in await _get(client, token, "/api/users/list")} == {"offline"}
    offline = await _get(client, token, "/api/extensions", status="offline")
    assert [r["extn"] for r in offline["data"]] == ["1001", "1002"]
    assert (await _get(client, token, "/api/extensions", status="unknown"))["data"] == []
    list1 = await _get(client, token, "/api/users/list1")
    assert {r["status"] for r in list1["unreg"]} == {"offline"}


async def test_given_unknown_status_offline_when_a_node_is_down_then_absent_ones_read_offline(
    conn: asyncpg.Connection, start_api: StartApi
) -> None:
    owner = await add_admin(conn)
    for extn in ("1001", "1003"):
        await add_extension(conn, extn, DOMAIN, user_id=owner)
    client: Client = await start_api(api__unknown_status="offline")  # fed the captured snapshot
    token = await login(client)
    assert client.app is not None
    state = client.app[REGISTRATIONS]
    assert isinstance(state, RegistrationState)
    state.apply(NodeChanged("fs1", NodeState.DOWN, at=1_700_000_100.0))
    page = await _get(client, token, "/api/extensions")
    assert [r["status"] for r in page["data"]] == ["offline", "offline"]
    # The node list keeps telling the truth.
    assert [(n["name"], n["state"]) for n in page["nodes"]] == [("fs1", "down")]
