"""The one column table (bridge/xui/columns.py) is what the reader, shapes, validation and
OpenAPI use: each derived table is exactly its projection of the rows."""

from __future__ import annotations

import dataclasses

from bridge.api import shapes, validate
from bridge.api.openapi import document as openapi
from bridge.directory.extension import Extension
from bridge.xui import columns
from bridge.xui_values import EXTENSION_DEFAULTS

ROWS = columns.EXTENSION_COLUMNS


def test_the_directory_reads_exactly_the_directory_columns_with_their_sql_kind() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(Extension)}
    for column in ROWS:
        if column.directory:
            assert fields[column.name] == {"int": "int", "str": "str", "bool": "bool"}[column.sql]
        else:
            assert column.name not in fields


def test_the_api_answers_each_served_column_in_its_json_kind_and_default() -> None:
    assert dict(shapes.EXTENSION_INTS) == {
        c.name: c.default for c in ROWS if c.served and c.answered_as == "int"
    }
    assert dict(shapes.EXTENSION_TEXTS) == {
        c.name: c.default for c in ROWS if c.served and c.answered_as == "str"
    }
    assert shapes.EXTENSION_BOOLS == ("boss_extn",)
    assert not {c.name for c in ROWS if not c.served} & {*shapes.EXTENSION_INTS, *shapes.EXTENSION_TEXTS}


def test_validation_accepts_exactly_the_settable_columns_within_their_ranges() -> None:
    assert {c.name for c in ROWS if c.access == "setting"} == validate.EXTENSION_SETTABLE
    assert dict(validate.EXTENSION_INT_RANGES) == {
        c.name: (c.low, c.high) for c in ROWS if c.access == "setting" and c.answered_as == "int"
    }


def test_defaults_are_the_rows_defaults() -> None:
    assert dict(EXTENSION_DEFAULTS) == {
        "call_limit": 1,
        "called_limit": 1,
        "call_authority": 4,
        "caller_display": 1,
        "type": "SIP",
        "priority": "99",
        "display_order": "0",
    }


def test_openapi_rows_carry_every_served_column() -> None:
    row = openapi.SCHEMAS["Extension"]["properties"]
    assert {c.name for c in ROWS if c.served} <= set(row)
