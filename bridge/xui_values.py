"""XUI column values, spelt as each XUI version stores or prints them, read into one typed form (pure).

One converter per kind of column, used by the directory (``Extension.from_row``) and the
admin API (``api/shapes.py``) alike, so both read a row the same way. The XUI document
(``tests/fixtures/xui/xui-rest-api.zh.txt``, 分机管理 column table) types the flags as
``INTEGER DEFAULT 0`` (0/1), while some of its examples print them as ``"t"``/``"f"`` (a
boolean's text): a flag column holding ``"t"`` means 1, ``"f"`` means 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.xui import columns

# The documented defaults of the extensions columns that are not 0 or "" (call_limit,
# called_limit 1, call_authority 4, caller_display 1, type 'SIP', priority 99, display_order
# 0), from the one column table (bridge/xui/columns.py). A NULL, or an empty text, reads as
# the default.
EXTENSION_DEFAULTS: Mapping[str, int | str] = columns.EXTENSION_DEFAULTS

_TRUE = frozenset({"1", "t", "true", "yes", "on"})


def text(value: Any, default: str = "") -> str:
    """NULL and "" read as ``default``; anything else as its text."""
    if type(value) is str:  # what asyncpg gives a VARCHAR
        return value or default
    return default if value is None else str(value) or default


def integer(value: Any, default: int = 0) -> int:
    """An INTEGER column: numbers as they are, numbers as text, "t"/"f" as 1/0, else ``default``."""
    if type(value) is int:  # what asyncpg gives an INTEGER
        return value
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    spelt = str(value).strip().lower()
    if spelt in ("t", "true"):
        return 1
    if spelt in ("f", "false"):
        return 0
    try:
        return int(spelt)
    except ValueError:
        return default


def switch(value: Any) -> int:
    """A number kept as text (enable_cb_onbusy): "1", "t", "yes", "on" are 1, others as ``integer``."""
    return 1 if flag(value) else integer(value, 0)


def flag(value: Any) -> bool:
    """A flag stored as a boolean, 0/1 or 't'/'f' depending on the XUI version."""
    if isinstance(value, bool):
        return value
    return ("" if value is None else str(value)).strip().lower() in _TRUE


def timestamp(value: Any) -> str:
    """``YYYY-MM-DD HH:MM:SS``, as the document prints them; NULL reads as ""."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
