"""Provisioning answers in the XUI document's JSON (pure: no aiohttp, no asyncpg).

Typed as shapes.py answers the reads. Which secrets appear, and to whom:

* an extension's ``password``, ``ha1`` and ``ha1b`` are in the document's write answers and
  in ``GET /api/users/:id/extensions``; they only ever reach a super user or an admin of
  the extension's domain (the only callers of those endpoints), as in XUI;
* a user's web password is never stored, so ``password`` in a user object is always "";
  ``salt`` and ``sha1`` are never answered.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from bridge import xui_values
from bridge.api import shapes

# GET /api/users/1 of the document, key for key.
USER_TEXTS = tuple(column for column in shapes.USER_TEXTS if column != "password")


def done(data: Any, message: str = "success") -> dict[str, Any]:
    """The document's envelope of a write: ``{"code": 200, "data": …, "message": …}``."""
    return {"code": 200, "data": data, "message": message}


def extension(row: Mapping[str, Any]) -> dict[str, Any]:
    """A whole extension row as POST /api/extensions and muti_add answer it."""
    out = shapes.extension(row, "offline")
    del out["status"]  # write answers carry no live status
    out["password"] = xui_values.text(row["password"])
    out["ha1"] = xui_values.text(row["ha1"])
    out["ha1b"] = xui_values.text(row["ha1b"])
    return out


def extension_updated(row: Mapping[str, Any], login: str) -> dict[str, Any]:
    """PUT /api/extensions/:id's answer: the row with its owner's login and the new hashes, as
    the document's example; never the plaintext password (a reply is logged and cached by
    proxies and clients more readily than the request that carried it)."""
    out = extension(row)
    del out["password"]
    out["login"] = login
    return out


def user_extension(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row of GET /api/users/:id/extensions: its example has no ``tmf_type``."""
    out = extension(row)
    del out["tmf_type"]
    return out


def user(row: Mapping[str, Any], ext: Mapping[str, Any] | None) -> dict[str, Any]:
    """GET /api/users/:id: the user and the hashes of its default extension (``""`` if none)."""
    out: dict[str, Any] = {}
    for column, number in shapes.USER_INTS.items():
        out[column] = xui_values.integer(row[column], number)
    for column in USER_TEXTS:
        out[column] = xui_values.text(row[column])
    for column in shapes.USER_TIMESTAMPS:
        out[column] = xui_values.timestamp(row[column])
    out["extn"] = xui_values.text(row["extn"])
    out["ha1"] = xui_values.text(ext["ha1"]) if ext else ""
    out["ha1b"] = xui_values.text(ext["ha1b"]) if ext else ""
    return out


def user_created(row: Mapping[str, Any], ext: Mapping[str, Any] | None) -> dict[str, Any]:
    """One user of POST /api/users/muti_add's answer: the user object, agent_info, password ""."""
    out = user(row, ext)
    if ext is not None:
        out["extn_id"] = int(ext["id"])  # set after the users were inserted, in the same transaction
    out["agent_info"] = shapes.agent_info(row["agent_info"])
    out["password"] = ""
    return out


def user_page(rows: list[dict[str, Any]], row_count: int, page: shapes.Page) -> dict[str, Any]:
    return {"data": rows, "pageCount": page.count(row_count), "rowCount": row_count, "page": page.page}


# GET /api/extensions/download: the document's header, its empty 8th column is the domain.
CSV_HEADER = ("分机ID", "号码", "名称", "密码", "呼叫源", "主叫名称", "主叫号码", "", "类型")
CSV_COLUMNS = ("id", "extn", "name", "password", "context", "cid_name", "cid_number", "domain", "type")


# A spreadsheet runs a cell that begins with one of these as a formula ("CSV injection",
# owasp.org/www-community/attacks/CSV_Injection): such a cell is written after a "'",
# which spreadsheets show as text and do not evaluate.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    out = xui_values.text(value)
    return "'" + out if out.startswith(_FORMULA_STARTS) else out


def extensions_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()
