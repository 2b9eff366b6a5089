"""XUI groups as the document's answers print them ("分组管理"), key for key (pure).

The document prints list rows with every value a string ("0", "") and the single group of
``GET /api/groups/:id`` typed (numbers); bridge follows each example as printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bridge import xui_values

# GET /api/groups/extn_group, /user_group and /build_group_tree rows, all strings.
ROW_TEXTS = ("name", "description", "realm", "group_id")
ROW_NUMBERS = ("id", "level", "sort", "group_type")
ROW_TIMES = ("created_at", "updated_at", "deleted_at")


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def row(group: Mapping[str, Any]) -> dict[str, str]:
    out = {column: _s(group[column]) for column in (*ROW_NUMBERS, *ROW_TEXTS)}
    out.update({column: xui_values.timestamp(group[column]) for column in ROW_TIMES})
    return out


def page(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every visible group on one page (XUI answers these unpaged: page 1 of 1)."""
    return {"page": 1, "rowCount": len(rows), "data": [row(g) for g in rows], "pageCount": 1}


def listed(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """GET /api/groups: name, value (= id), group_type, id, group_id, realm; all strings."""
    data = [
        {
            "name": _s(g["name"]),
            "value": _s(g["id"]),
            "group_type": _s(g["group_type"]),
            "id": _s(g["id"]),
            "group_id": _s(g["group_id"]),
            "realm": _s(g["realm"]),
        }
        for g in rows
    ]
    return {"pageCount": 1, "data": data, "rowCount": len(data), "page": 1}


def one(g: Mapping[str, Any]) -> dict[str, Any]:
    """GET /api/groups/:id, typed as the document prints it."""
    return {
        "created_at": xui_values.timestamp(g["created_at"]),
        "name": _s(g["name"]),
        "realm": _s(g["realm"]),
        "description": _s(g["description"]),
        "sort": xui_values.integer(g["sort"], 0),
        "deleted_at": xui_values.timestamp(g["deleted_at"]),
        "id": int(g["id"]),
        "updated_at": xui_values.timestamp(g["updated_at"]),
        "level": xui_values.integer(g["level"], 0),
        "group_type": xui_values.integer(g["group_type"], 0),
    }


def tree(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """GET /api/groups/build_group_tree: parents before their children, ``spaces`` indenting."""
    return [{**row(g), "spaces": "  " * xui_values.integer(g["level"], 0)} for g in in_tree_order(rows)]


def options(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """GET /api/groups/build_group_options_tree(_extn): id, name, realm, value (= id)."""
    return [
        {"id": _s(g["id"]), "name": _s(g["name"]), "realm": _s(g["realm"]), "value": _s(g["id"])}
        for g in in_tree_order(rows)
    ]


def other_options(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """GET /api/groups/build_group_options_tree/:id: value (a number) and name."""
    return [{"value": int(g["id"]), "name": _s(g["name"])} for g in in_tree_order(rows)]


def members(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """GET /api/groups/:id/members: the group's users (``id`` is the membership's id)."""
    return [
        {
            "group_id": _s(m["group_id"]),
            "user_id": _s(m["user_id"]),
            "id": _s(m["id"]),
            "domain": _s(m["domain"]),
            "sort": _s(m["sort"]),
            "name": _s(m["name"]),
            "extn": _s(m["extn"]),
        }
        for m in rows
    ]


def extns(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """GET /api/groups/:id/extns: the group's extensions (``id`` is the membership's id)."""
    return [
        {
            "extn_id": _s(m["extn_id"]),
            "sort": _s(m["sort"]),
            "domain": _s(m["domain"]),
            "group_id": _s(m["group_id"]),
            "id": _s(m["id"]),
            "name": _s(m["name"]),
            "extn": _s(m["extn"]),
        }
        for m in rows
    ]


def in_tree_order(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each group followed by its subgroups (by sort, then id); orphans at the top level."""
    ids = {_s(g["id"]) for g in rows}
    children: dict[str, list[Mapping[str, Any]]] = {}
    for g in rows:
        parent = _s(g["group_id"])
        children.setdefault(parent if parent in ids else "", []).append(g)
    out: list[Mapping[str, Any]] = []
    seen: set[str] = set()  # a cycle written by hand in the table is walked once

    def walk(parent: str) -> None:
        for g in sorted(children.get(parent, ()), key=_order):
            if _s(g["id"]) not in seen:
                seen.add(_s(g["id"]))
                out.append(g)
                walk(_s(g["id"]))

    walk("")
    return out


def _order(g: Mapping[str, Any]) -> tuple[int, int]:
    return xui_values.integer(g["sort"], 0), int(g["id"])
