"""A user as ``GET /api/users/info`` and ``POST /api/users/import`` print it in the XUI
document, key for key and type for type (pure).

Deliberate differences, for secrets: ``password`` (import) is always "" (bridge never keeps a
web password, only its salted SHA1), and ``salt`` and ``sha1`` are "" too (neither is for a
client).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bridge import xui_values

INTS = {"is_super": 0, "login_attempts": 0, "idle_timeout": 60, "tel_enabled": 0, "id": 0, "first_login": 0}
INTS_LAST = {"auto_record": 0}
TEXTS = ("vm_password", "domain", "login", "tel", "cid_number", "cid_name", "extn", "name", "context")
TIMES = ("deleted_at", "last_login_at", "created_at", "last_login_attempt_at", "updated_at")
BOOLS = ("is_locked", "is_admin")


def agent_info(value: Any) -> Any:
    """The JSONB object; empty prints as ``[]`` as the document's examples (Lua's empty table)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if value else []


def info(row: Mapping[str, Any]) -> dict[str, Any]:
    """GET /api/users/info."""
    out: dict[str, Any] = {}
    out.update({column: xui_values.text(row[column]) for column in TEXTS})
    out.update({column: xui_values.integer(row[column], number) for column, number in INTS.items()})
    out.update({column: xui_values.timestamp(row[column]) for column in TIMES})
    out.update({column: xui_values.flag(row[column]) for column in BOOLS})
    out.update({column: xui_values.integer(row[column], number) for column, number in INTS_LAST.items()})
    out["salt"] = ""
    out["email"] = xui_values.text(row["email"])
    out["agent_info"] = agent_info(row["agent_info"])
    out["type"] = xui_values.text(row["type"])
    return out


def imported(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row of POST /api/users/import's answer: the info keys plus password and sha1 ("")."""
    return {**info(row), "password": "", "sha1": ""}


def current_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """GET /api/users/currentUser: the document's keys (an Ant Design Pro profile). bridge has
    the name, id, email and tel; the rest are empty in their documented types."""
    empty = {"key": "", "label": ""}
    name = xui_values.text(row["name"]) or xui_values.text(row["login"])
    return {
        "geographic": {"province": dict(empty), "city": dict(empty)},
        "notifyCount": 0,
        "name": name,
        "phone": xui_values.text(row["tel"]),
        "tags": [],
        "address": "",
        "userid": int(row["id"]),
        "unreadCount": 0,
        "group": xui_values.text(row["domain"]),
        "title": name,
        "email": xui_values.text(row["email"]),
        "country": "",
        "signature": "",
        "avatar": "",
    }
