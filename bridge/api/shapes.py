"""Rows -> XUI JSON, in one typed form (pure: no aiohttp, no asyncpg).

The XUI document prints the same fields sometimes as strings ("0", "f") and sometimes as
numbers and booleans. bridge answers in one form, the typed one of the document's
``POST /api/extensions`` and ``status=online`` examples:

* integer columns are JSON numbers (``id``, ``user_id``, every 0/1 flag);
* ``boss_extn`` is a JSON boolean;
* text columns are strings, including ``priority``, ``display_order`` and ``timeout``,
  which the document's table types as string;
* timestamps are ``"YYYY-MM-DD HH:MM:SS"``;
* NULL is ``""`` for text and timestamps, the documented default for numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bridge.registrations.model import NodeState, NodeStatus, Registration
from bridge.xui import columns
from bridge.xui_values import flag, integer, switch, text, timestamp

Status = Literal["online", "offline", "unknown"]
STATUSES: tuple[Status, ...] = ("online", "offline", "unknown")

# Column -> default for NULL, by JSON kind, in the document's table order ("分机管理"), all
# derived from the one column table (bridge/xui/columns.py).
EXTENSION_INTS: Mapping[str, int] = {c.name: int(c.default) for c in columns.answered("int")}
EXTENSION_TEXTS: Mapping[str, str] = {c.name: str(c.default) for c in columns.answered("str")}
EXTENSION_BOOLS: tuple[str, ...] = tuple(c.name for c in columns.answered("bool"))
# Answered as numbers, stored as text (enable_cb_onbusy): "yes" is 1.
_NUMBERS_AS_TEXT = tuple(c.name for c in columns.answered("int") if c.sql == "str")
# Read from the row when the database has the column (tmf_type), else the default.
_OPTIONAL = {c.name: int(c.default) for c in columns.answered("int") if c.optional}
_ALWAYS_INTS = {name: n for name, n in EXTENSION_INTS.items() if name not in _OPTIONAL}
TIMESTAMPS: tuple[str, ...] = tuple(c.name for c in columns.answered("timestamp"))
USER_INTS: Mapping[str, int] = {
    "id": 0,
    "is_super": 0,
    "auto_record": 0,
    "extn_id": 0,
    "tel_enabled": 0,
}
USER_TEXTS: tuple[str, ...] = (
    "login",
    "name",
    "password",
    "cid_name",
    "cid_number",
    "context",
    "domain",
    "vm_password",
    "email",
    "type",
    "tel",
)
USER_TIMESTAMPS: tuple[str, ...] = ("last_login_at", "created_at", "updated_at", "deleted_at")


def extension(row: Mapping[str, Any], status: Status) -> dict[str, Any]:
    """One row of GET /api/extensions (and /api/extensions/:id) with its status."""
    out: dict[str, Any] = {}
    for column, number in _ALWAYS_INTS.items():
        out[column] = integer(row[column], number)
    for column in _NUMBERS_AS_TEXT:
        out[column] = switch(row[column])
    for column, number in _OPTIONAL.items():
        out[column] = integer(row.get(column), number)
    for column, default in EXTENSION_TEXTS.items():
        out[column] = text(row[column], default)
    for column in EXTENSION_BOOLS:
        out[column] = flag(row[column])
    for column in TIMESTAMPS:
        out[column] = timestamp(row[column])
    out["status"] = status
    return out


def agent_info(value: Any) -> str:
    # JSONB; the document's user objects print it as JSON text ("{}").
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def user_with_extension(
    user: Mapping[str, Any] | None, ext: Mapping[str, Any], regs: Sequence[Registration]
) -> dict[str, Any]:
    """The object of GET /api/users/list?extn=: the owning user, the extension's hashes, its live bindings.

    An extension whose user row is gone (user_id 0, "system") still answers, with the
    user fields at their defaults.
    """
    source: Mapping[str, Any] = user or {}
    out: dict[str, Any] = {}
    for column, number in USER_INTS.items():
        out[column] = integer(source.get(column), number)
    for column in USER_TEXTS:
        out[column] = text(source.get(column))
    for column in USER_TIMESTAMPS:
        out[column] = timestamp(source.get(column))
    out["agent_info"] = agent_info(source.get("agent_info"))
    out["extn"] = text(ext["extn"])
    out["ha1"] = text(ext["ha1"])
    out["ha1b"] = text(ext["ha1b"])
    if not out["domain"]:
        out["domain"] = text(ext["domain"])
    out["regs"] = [reg.xui_row() for reg in regs]
    return out


def extn_status(extn: str, status: Status) -> dict[str, str]:
    return {"extn": extn, "status": status}


# Node states in which an absent binding proves nothing: the node may hold it.
UNCERTAIN_STATES = frozenset({NodeState.NOT_STARTED, NodeState.CONNECTING, NodeState.SYNCING, NodeState.DOWN})


def offline_word(nodes: Iterable[NodeStatus], unknown_as: Status = "unknown") -> Status:
    """What "not seen registered" means right now: offline, or unknown while a node is not in
    sync or when there is no node at all (status then has no source). ``unknown_as`` is
    ``api.unknown_status``: "offline" serves clients that know only online/offline."""
    listed = list(nodes)
    uncertain = not listed or any(node.state in UNCERTAIN_STATES for node in listed)
    return unknown_as if uncertain else "offline"


def node(status: NodeStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "state": status.state.value,
        "since": datetime.fromtimestamp(status.since).strftime("%Y-%m-%d %H:%M:%S"),
        "registrations": status.registrations,
    }


def nodes(statuses: Iterable[NodeStatus]) -> list[dict[str, Any]]:
    return [node(status) for status in statuses]


@dataclass(frozen=True, slots=True)
class Page:
    """Paging of GET /api/extensions: page numbers from 1, page_size capped."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def count(self, rows: int) -> int:
        return -(-rows // self.size)


def extension_page(
    rows: list[dict[str, Any]], row_count: int, page: Page, hpack: bool, node_list: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "rowCount": row_count,
        "page": page.page,
        "pageCount": page.count(row_count),
        "hpack": hpack,
        "data": rows,
        "nodes": node_list,
    }


def list1_json(row_count: int, rows: bytes, unreg: bytes, node_list: bytes) -> bytes:
    """``list1`` from encoded parts (the registration rows are cached encoded), same key order."""
    return b'{"reg":{"row_count":%d,"rows":%b},"unreg":%b,"nodes":%b}' % (row_count, rows, unreg, node_list)


def error(code: int, reason: str) -> dict[str, Any]:
    """The one error shape: the auth document says ``text``, the REST document ``message``;
    both carry the same reason so a client written against either reads it."""
    return {"code": code, "text": reason, "message": reason}
