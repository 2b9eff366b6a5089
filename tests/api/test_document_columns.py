"""Every column of the document's extensions table ("分机管理") keeps its documented type in
bridge's converters: bridge/directory/extension.py (the directory) and bridge/api/shapes.py (the API)."""

from __future__ import annotations

import dataclasses
import re
import typing

import asyncpg
import pytest

from bridge.api import shapes
from bridge.directory.extension import Extension
from bridge.xui import columns
from tests.api.conftest import Api
from tests.api.helpers import auth
from tests.conftest import REFERENCE

_COLUMN = re.compile(r"^([a-z][a-z0-9_]*?)(PRIMARY KEY|string|VARCHAR|INTEGER|BOOLEAN|TIMESTAMP\(0\))")
# Served by no list (secrets): the directory reads them, the API never answers them.
_NOT_SERVED = {"password", "ha1", "ha1b"}


def documented_columns() -> dict[str, str]:
    """Column -> documented type, from the table under "分机字段信息说明如下"."""
    lines = (REFERENCE / "xui-rest-api.zh.txt").read_text().splitlines()
    start = lines.index("分机字段信息说明如下:")
    columns: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if line.startswith("type 类型说明"):
            break
        match = _COLUMN.match(line)
        if match:
            columns[match.group(1)] = match.group(2)
    return columns


COLUMNS = documented_columns()
TEXT = {c for c, t in COLUMNS.items() if t in ("string", "VARCHAR")}


def test_the_document_table_was_read_whole() -> None:
    assert len(COLUMNS) == 57 and COLUMNS["enable_cb_onbusy"] == "VARCHAR"


@pytest.mark.parametrize("column", sorted(COLUMNS), ids=sorted(COLUMNS))
def test_each_column_keeps_its_documented_type(column: str) -> None:
    kind = COLUMNS[column]
    if kind.startswith("TIMESTAMP"):
        assert column in shapes.TIMESTAMPS
        return
    hints = typing.get_type_hints(Extension)
    fields = {f.name for f in dataclasses.fields(Extension)}
    expected = {"string": str, "VARCHAR": str, "INTEGER": int, "PRIMARY KEY": int, "BOOLEAN": bool}[kind]
    assert column in fields and hints[column] is expected, f"records.Extension.{column}"
    if column in _NOT_SERVED:
        assert column not in shapes.EXTENSION_TEXTS
        return
    served = {str: shapes.EXTENSION_TEXTS, int: shapes.EXTENSION_INTS, bool: shapes.EXTENSION_BOOLS}
    # The API answers the JSON kind of the document's examples: the table's own, except
    # enable_cb_onbusy (VARCHAR, printed as a number by every example).
    answered = int if column in ANSWERED_AS_NUMBER else expected
    assert column in served[answered], f"shapes: {column} is {kind}"


ANSWERED_AS_NUMBER = {"enable_cb_onbusy"}


def test_only_enable_cb_onbusy_is_answered_in_another_kind_than_its_column() -> None:
    differ = {c.name for c in columns.EXTENSION_COLUMNS if c.answered_as != c.sql}
    assert differ == ANSWERED_AS_NUMBER


@pytest.mark.parametrize(
    ("stored", "answered"), [("1", 1), ("0", 0), ("yes", 1), ("", 0), (None, 0)], ids=repr
)
async def test_enable_cb_onbusy_is_answered_as_the_number_the_document_shows(
    api: Api, conn: asyncpg.Connection, stored: str | None, answered: int
) -> None:
    await conn.execute("UPDATE extensions SET enable_cb_onbusy = $1 WHERE extn = '1003'", stored)
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1003'")
    body = await (await api.client.get(f"/api/extensions/{ext_id}", headers=auth(api.token))).json()
    assert body["enable_cb_onbusy"] == answered and type(body["enable_cb_onbusy"]) is int


@pytest.mark.parametrize("value", ["yes", "0", "1", ""], ids=["yes", "zero", "one", "empty"])
async def test_text_columns_come_back_as_their_text(api: Api, conn: asyncpg.Connection, value: str) -> None:
    texts = sorted(TEXT - _NOT_SERVED - ANSWERED_AS_NUMBER - {"extn", "domain", "name", "context"})
    await conn.execute(
        f"UPDATE extensions SET {', '.join(f'{c} = $1' for c in texts)} WHERE extn = '1003'", value
    )
    ext_id = await conn.fetchval("SELECT id FROM extensions WHERE extn = '1003'")
    body = await (await api.client.get(f"/api/extensions/{ext_id}", headers=auth(api.token))).json()
    defaults = shapes.EXTENSION_TEXTS
    # An empty text reads as the documented default (type 'SIP', priority '99', display_order '0').
    assert {c: body[c] for c in texts} == {c: value or defaults[c] for c in texts}
