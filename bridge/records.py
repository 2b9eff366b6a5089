"""Typed rows: what the XUI tables hold, as the rest of bridge sees them (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return default


# What PostgreSQL prints for integer::text and boolean::text: the users' flags arrive so.
_FLAG_TEXT = {"0": False, "1": True, "f": False, "t": True, "false": False, "true": True}


def _flag(value: Any) -> bool:
    """XUI stores flags as 0/1 integers, booleans or 't'/'f' depending on version."""
    if isinstance(value, bool):
        return value
    if type(value) is str and (known := _FLAG_TEXT.get(value)) is not None:
        return known
    return _text(value).strip().lower() in ("1", "t", "true", "yes", "on")


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
        """The row of ``extensions.EXTENSION_BY_KEY`` (or any mapping with its columns), typed.

        NULL reads as "" or 0 (or the documented default named below); other spellings an XUI
        version may use (numbers as text, flags as 0/1 or 't'/'f') are converted. Each line
        takes the value as it is when asyncpg already gives the field's type (int for INTEGER,
        str for VARCHAR, bool for BOOLEAN), the common case, and converts it otherwise.

        Runs once per directory cache miss, so it avoids what ``Extension(...)`` costs: its
        frozen ``__init__`` calls ``object.__setattr__`` once per field, and a conversion call
        per field doubles that. Here the fields are stored into a ``_Filling``, the same slots
        without the frozen check (plain stores, which the interpreter specialises), and the
        finished object then becomes an ``Extension``: 18 µs -> 3.4 µs per asyncpg Record.
        tests/test_records.py holds every field to the plain conversions above.
        """
        e: Any = object.__new__(_Filling)
        e.id = v if type(v := row["id"]) is int else _int(v)
        e.extn = v if type(v := row["extn"]) is str else "" if v is None else str(v)
        e.domain = v if type(v := row["domain"]) is str else "" if v is None else str(v)
        e.name = v if type(v := row["name"]) is str else "" if v is None else str(v)
        e.password = v if type(v := row["password"]) is str else "" if v is None else str(v)
        e.ha1 = v if type(v := row["ha1"]) is str else "" if v is None else str(v)
        e.ha1b = v if type(v := row["ha1b"]) is str else "" if v is None else str(v)
        e.vm_password = v if type(v := row["vm_password"]) is str else "" if v is None else str(v)
        e.cid_name = v if type(v := row["cid_name"]) is str else "" if v is None else str(v)
        e.cid_number = v if type(v := row["cid_number"]) is str else "" if v is None else str(v)
        e.type = v if type(v := row["type"]) is str and v else (_text(v) or "SIP")
        e.context = v if type(v := row["context"]) is str else "" if v is None else str(v)
        e.user_id = v if type(v := row["user_id"]) is int else _int(v)
        e.call_transfer_type = v if type(v := row["call_transfer_type"]) is int else _int(v)
        e.voicemail = v if type(v := row["voicemail"]) is int else _int(v)
        e.ringback = v if type(v := row["ringback"]) is str else "" if v is None else str(v)
        e.timeout = v if type(v := row["timeout"]) is str else "" if v is None else str(v)
        e.enable_ringback = v if type(v := row["enable_ringback"]) is int else _int(v)
        e.auto_record = v if type(v := row["auto_record"]) is int else _int(v)
        e.call_limit = v if type(v := row["call_limit"]) is int else _int(v, 1)
        e.called_limit = v if type(v := row["called_limit"]) is int else _int(v, 1)
        e.call_authority = v if type(v := row["call_authority"]) is int else _int(v, 4)
        e.intercept = v if type(v := row["intercept"]) is int else _int(v)
        e.group_name = v if type(v := row["group_name"]) is str else "" if v is None else str(v)
        e.force_insert = v if type(v := row["force_insert"]) is int else _int(v)
        e.force_breakdown = v if type(v := row["force_breakdown"]) is int else _int(v)
        e.eavesdrop = v if type(v := row["eavesdrop"]) is int else _int(v)
        e.extn_cidr = v if type(v := row["extn_cidr"]) is str else "" if v is None else str(v)
        e.priority = v if type(v := row["priority"]) is str and v else (_text(v) or "99")
        e.weblogin_disabled = v if type(v := row["weblogin_disabled"]) is int else _int(v)
        e.sync_enabled = v if type(v := row["sync_enabled"]) is int else _int(v)
        e.display_order = v if type(v := row["display_order"]) is str and v else (_text(v) or "0")
        e.disabled = v if type(v := row["disabled"]) is int else _int(v)
        e.enable_srtp = v if type(v := row["enable_srtp"]) is int else _int(v)
        e.forced_insert = v if type(v := row["forced_insert"]) is int else _int(v)
        e.eavesdropped = v if type(v := row["eavesdropped"]) is int else _int(v)
        e.intercepted = v if type(v := row["intercepted"]) is int else _int(v)
        e.intercepted_group_name = (
            v if type(v := row["intercepted_group_name"]) is str else "" if v is None else str(v)
        )
        e.codec = v if type(v := row["codec"]) is str else "" if v is None else str(v)
        e.mac_address = v if type(v := row["mac_address"]) is str else "" if v is None else str(v)
        e.enable_cb_onbusy = v if type(v := row["enable_cb_onbusy"]) is str else "" if v is None else str(v)
        e.caller_display = v if type(v := row["caller_display"]) is int else _int(v, 1)
        e.hotline_number = v if type(v := row["hotline_number"]) is str else "" if v is None else str(v)
        e.hotline_type = v if type(v := row["hotline_type"]) is str else "" if v is None else str(v)
        e.hotline_address = v if type(v := row["hotline_address"]) is str else "" if v is None else str(v)
        e.enable_hotline = v if type(v := row["enable_hotline"]) is int else _int(v)
        e.boss_extn = v if type(v := row["boss_extn"]) is bool else _flag(v)
        e.secretary_extn = v if type(v := row["secretary_extn"]) is str else "" if v is None else str(v)
        e.dtmf_type = v if type(v := row["dtmf_type"]) is int else _int(v)
        e.enable_extn_time_recurrences = (
            v if type(v := row["enable_extn_time_recurrences"]) is int else _int(v)
        )
        e.enable_t38 = v if type(v := row["enable_t38"]) is int else _int(v)
        e.forced_breakdown = v if type(v := row["forced_breakdown"]) is int else _int(v)
        e.connect_phone = v if type(v := row["connect_phone"]) is str else "" if v is None else str(v)
        e.description = v if type(v := row["description"]) is str else "" if v is None else str(v)
        e.deleted = row["deleted_at"] is not None
        e.user_login = v if type(v := row["user_login"]) is str else "" if v is None else str(v)
        e.user_disabled = v if type(v := row["user_disabled"]) is bool else _flag(v)
        e.user_locked = v if type(v := row["user_locked"]) is bool else _flag(v)
        e.user_deleted = row["user_deleted_at"] is not None
        e.__class__ = cls  # allowed: same slots; from here on the frozen checks apply
        return cast(Extension, e)


class _Filling:
    """``Extension``'s slots without its frozen ``__setattr__``: only ``from_row`` uses it."""

    __slots__ = Extension.__slots__
