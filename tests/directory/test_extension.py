"""Extension.from_row reads every column as documented (bridge/xui_values.py), and is a plain Extension."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.directory.extension import Extension
from bridge.directory.store.sql import EXTENSION_BY_KEY
from bridge.xui_values import EXTENSION_DEFAULTS
from tests.factories import add_extension, add_user

DOMAIN = "xswitch.test"
GONE = datetime(2024, 1, 1)

# The oracle: one conversion per field, written out here as the XUI document reads (an
# INTEGER flag spelt "t"/"f" is 1/0), with the documented defaults.
INT_DEFAULTS = {k: v for k, v in EXTENSION_DEFAULTS.items() if isinstance(v, int)}
TEXT_DEFAULTS = {k: v for k, v in EXTENSION_DEFAULTS.items() if isinstance(v, str)}
DELETED_AT = {"deleted": "deleted_at", "user_deleted": "user_deleted_at"}
TYPES = {"int": int, "str": str, "bool": bool}
FIELDS = dataclasses.fields(Extension)
COLUMNS = [DELETED_AT.get(f.name, f.name) for f in FIELDS]


def _plain_text(value: Any) -> str:
    return "" if value is None else str(value)


def _plain_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    spelt = str(value).strip().lower()
    if spelt in ("t", "true", "f", "false"):
        return int(spelt.startswith("t"))
    try:
        return int(spelt)
    except ValueError:
        return default


def _plain_flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _plain_text(value).strip().lower() in ("1", "t", "true", "yes", "on")


def plain_reading(row: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for f in FIELDS:
        if f.name in DELETED_AT:
            fields[f.name] = row[DELETED_AT[f.name]] is not None
        elif f.type == "int":
            fields[f.name] = _plain_int(row[f.name], INT_DEFAULTS.get(f.name, 0))
        elif f.type == "str":
            fields[f.name] = _plain_text(row[f.name]) or TEXT_DEFAULTS.get(f.name, "")
        else:
            fields[f.name] = _plain_flag(row[f.name])
    return fields


def assert_read_as_before(row: Mapping[str, Any]) -> Extension:
    e = Extension.from_row(row)
    assert type(e) is Extension
    assert dataclasses.asdict(e) == plain_reading(row)
    assert e == Extension(**plain_reading(row))
    # Exact types, as the annotations say (a str subclass or a bool in an int field would
    # compare equal above and still be wrong).
    assert {f.name: type(getattr(e, f.name)) for f in FIELDS} == {f.name: TYPES[str(f.type)] for f in FIELDS}
    return e


# What a column can hold: asyncpg's types for the schema's columns, and the other
# spellings an XUI version or a caller's dict may use.
EDGE_VALUES: list[Any] = [None, "", " ", "5", " 5 ", "-3", "0", "1", "abc", "t", "f", "true", "false"]
EDGE_VALUES += ["TRUE", "yes", " Yes ", "no", "on", "off", 0, 1, 7, -1, True, False, 2.5, GONE]


@pytest.mark.parametrize("value", EDGE_VALUES, ids=repr)
def test_given_every_column_holding_one_edge_value_then_each_field_reads_as_before(value: Any) -> None:
    assert_read_as_before(dict.fromkeys(COLUMNS, value))


@pytest.mark.parametrize(
    ("value", "ints", "texts", "flags"),
    [
        (
            None,
            {"id": 0, "call_limit": 1, "call_authority": 4},
            {"type": "SIP", "priority": "99", "name": ""},
            False,
        ),
        ("", {"id": 0, "called_limit": 1, "caller_display": 1}, {"display_order": "0", "codec": ""}, False),
        (" 5 ", {"id": 5, "call_limit": 5}, {"type": " 5 ", "name": " 5 "}, False),
        ("abc", {"id": 0, "call_authority": 4}, {"name": "abc"}, False),
        (True, {"id": 1, "call_limit": 1}, {"name": "True"}, True),
        (False, {"id": 0, "call_limit": 0}, {"name": "False", "type": "False"}, False),
        (0, {"id": 0, "call_limit": 0}, {"name": "0", "priority": "0"}, False),
        # The document prints INTEGER flags as "t"/"f" in some examples: 1 and 0.
        ("t", {"id": 1, "call_limit": 1}, {"name": "t"}, True),
        ("f", {"id": 0, "call_limit": 0}, {"name": "f"}, False),
        (" Yes ", {"id": 0}, {"name": " Yes "}, True),
    ],
    ids=repr,
)
def test_given_an_edge_value_then_fields_read_as_documented(
    value: Any, ints: dict[str, int], texts: dict[str, str], flags: bool
) -> None:
    e = Extension.from_row(dict.fromkeys(COLUMNS, value) | {"deleted_at": None, "user_deleted_at": None})
    assert {name: getattr(e, name) for name in ints} == ints
    assert {name: getattr(e, name) for name in texts} == texts
    assert (e.boss_extn, e.user_disabled, e.user_locked) == (flags, flags, flags)
    assert not e.deleted and not e.user_deleted


def test_given_each_column_its_own_value_then_each_field_reads_its_own_column() -> None:
    row: dict[str, Any] = {}
    for number, (f, column) in enumerate(zip(FIELDS, COLUMNS, strict=True), start=100):
        row[column] = {"int": number, "str": f"{f.name}!", "bool": number % 2 == 0}[str(f.type)]
    row["deleted_at"], row["user_deleted_at"] = GONE, None
    e = assert_read_as_before(row)
    assert e.id == 100 and e.extn == "extn!" and e.enable_extn_time_recurrences == 149
    assert e.deleted and not e.user_deleted


column_values = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(), st.text(max_size=6))


@settings(max_examples=300, deadline=None, database=None)
@given(st.fixed_dictionaries(dict.fromkeys(COLUMNS, column_values)))
def test_given_any_mix_of_column_values_then_from_row_reads_as_before(row: dict[str, Any]) -> None:
    assert_read_as_before(row)


async def test_given_rows_read_by_asyncpg_then_from_row_reads_them_as_before(
    conn: asyncpg.Connection,
) -> None:
    # NULL wherever the schema allows it, even in the columns with a default.
    nullable = [
        "name",
        "password",
        "type",
        "call_limit",
        "call_authority",
        "priority",
        "display_order",
        "boss_extn",
        "secretary_extn",
        "caller_display",
        "codec",
        "context",
        "ha1",
        "ha1b",
    ]
    nulls: dict[str, Any] = dict.fromkeys(nullable)
    await add_extension(conn, "1001", hashes=False, **nulls)
    await add_extension(
        conn, "1002", boss_extn=True, call_limit=3, codec="PCMU,PCMA", extn_cidr=" 10.0.0.0/8 "
    )
    await add_extension(conn, "1003", deleted_at=GONE, disabled=1)
    await add_extension(conn, "1004", user_id=await add_user(conn, "off", disabled=1, is_locked=True))
    await add_extension(conn, "1005", user_id=await add_user(conn, "gone", deleted_at=GONE))
    orphan = await add_extension(conn, "1006")
    await conn.execute("UPDATE extensions SET user_id = NULL WHERE id = $1", orphan)  # user columns NULL

    read = {}
    for extn in ("1001", "1002", "1003", "1004", "1005", "1006"):
        row = await conn.fetchrow(EXTENSION_BY_KEY, DOMAIN, extn)
        assert isinstance(row, asyncpg.Record)
        read[extn] = assert_read_as_before(row)

    nulled = read["1001"]
    assert (nulled.name, nulled.type, nulled.call_limit, nulled.priority, nulled.boss_extn) == (
        "",
        "SIP",
        1,
        "99",
        False,
    )
    assert read["1002"].boss_extn and read["1002"].call_limit == 3
    assert read["1003"].deleted and read["1003"].disabled == 1
    assert read["1004"].user_disabled and read["1004"].user_locked
    assert read["1005"].user_deleted
    assert read["1006"].user_login == "" and read["1006"].can_authenticate


def test_given_an_extension_from_a_row_then_it_is_frozen_and_behaves_as_one_built_directly() -> None:
    e = Extension.from_row(dict.fromkeys(COLUMNS, " 5 ") | {"deleted_at": None, "user_deleted_at": None})
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.password = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del e.extn
    # No new attribute either: TypeError on the Pythons whose frozen slots dataclasses have
    # CPython gh-105936 (Extension(...) objects raise the same), FrozenInstanceError after.
    with pytest.raises((AttributeError, TypeError)):
        e.extra = 1  # type: ignore[attr-defined]
    assert e.password == " 5 "

    direct = Extension(
        **plain_reading(dict.fromkeys(COLUMNS, " 5 ") | {"deleted_at": None, "user_deleted_at": None})
    )
    assert e == direct and hash(e) == hash(direct) and repr(e) == repr(direct)
    assert dataclasses.replace(e) == e
    assert dataclasses.replace(e, password="pw").password == "pw"

