"""The directory's extension: one row of ``extensions`` and its user, typed (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.xui.columns import EXTENSION_COLUMNS, Column
from bridge.xui_values import flag, integer, text

# How the directory finds an extension: (domain, extn), the XUI table's unique pair.
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Extension:
    """One row of ``extensions`` plus the owning user's state that decides authentication.

    Field names are the XUI column names; integer flags keep their documented meaning
    (see ``directory/flags.py`` for what each becomes in FreeSWITCH).
    """

    id: int
    extn: str
    domain: str
    name: str
    password: str
    ha1: str
    ha1b: str
    vm_password: str
    cid_name: str
    cid_number: str
    type: str
    context: str
    user_id: int
    call_transfer_type: int
    voicemail: int
    ringback: str
    timeout: str
    enable_ringback: int
    auto_record: int
    call_limit: int
    called_limit: int
    call_authority: int
    intercept: int
    group_name: str
    force_insert: int
    force_breakdown: int
    eavesdrop: int
    extn_cidr: str
    priority: str
    weblogin_disabled: int
    sync_enabled: int
    display_order: str
    disabled: int
    enable_srtp: int
    forced_insert: int
    eavesdropped: int
    intercepted: int
    intercepted_group_name: str
    codec: str
    mac_address: str
    enable_cb_onbusy: str
    caller_display: int
    hotline_number: str
    hotline_type: str
    hotline_address: str
    enable_hotline: int
    boss_extn: bool
    secretary_extn: str
    dtmf_type: int
    enable_extn_time_recurrences: int
    enable_t38: int
    forced_breakdown: int
    connect_phone: str
    description: str
    deleted: bool
    # The owning user (users.id = user_id); absent user counts as neither disabled nor locked.
    user_login: str
    user_disabled: bool
    user_locked: bool
    user_deleted: bool

    @property
    def can_authenticate(self) -> bool:
        """Disabled or deleted extensions and disabled or deleted users never authenticate.

        ``user_locked`` (users.is_locked) is the web login's lock after failed logins (XUI:
        "超过 5 次后会锁定"), which anyone can cause: it never refuses SIP.
        """
        return not (self.deleted or self.disabled or self.user_disabled or self.user_deleted)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Extension:
        """The row of ``sql.EXTENSION_BY_KEY`` (or any mapping with its columns), typed.

        Each field is read by the converter of its column's SQL kind (bridge/xui/columns.py,
        bridge/xui_values.py); NULL reads as "" or 0, or the column's documented default.
        """
        return cls(
            **{name: read(row[name]) for name, read in _READERS.items()},
            deleted=row["deleted_at"] is not None,
            user_deleted=row["user_deleted_at"] is not None,
        )


def _reader(column: Column) -> Callable[[Any], Any]:
    if column.sql == "int":
        number = int(column.default)
        return lambda value: integer(value, number)
    if column.sql == "str":
        spelt = str(column.default) if column.default else ""
        return lambda value: text(value, spelt)
    return flag


# The owning user's columns (sql.py selects them under these names), read like the flags.
_USER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "user_login": text,
    "user_disabled": flag,
    "user_locked": flag,
}
# Field -> converter, built once at import from the column table (bridge/xui/columns.py).
_READERS: dict[str, Callable[[Any], Any]] = {
    **{c.name: _reader(c) for c in EXTENSION_COLUMNS if c.directory},
    **_USER_FIELDS,
}
_KINDS = {"int": int, "str": str, "bool": bool}


def _check_fields() -> None:
    """Every directory column of the table is a field of ``Extension`` with its SQL kind, and
    nothing else is: a row added to the table without its field fails here, at import."""
    hints = {f.name: f.type for f in dataclasses.fields(Extension)} | {"deleted": "", "user_deleted": ""}
    wanted = {c.name: _KINDS[c.sql].__name__ for c in EXTENSION_COLUMNS if c.directory}
    wanted |= {"user_login": "str", "user_disabled": "bool", "user_locked": "bool"}
    got = {name: kind for name, kind in hints.items() if name not in ("deleted", "user_deleted")}
    if got != wanted:
        differ = sorted(set(got.items()) ^ set(wanted.items()))
        raise TypeError(f"directory.extension.Extension and bridge/xui/columns.py differ: {differ}")


_check_fields()
