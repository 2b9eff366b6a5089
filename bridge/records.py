"""Typed rows: what the XUI tables hold, as the rest of bridge sees them (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


def _flag(value: Any) -> bool:
    """XUI stores flags as 0/1 integers, booleans or 't'/'f' depending on version."""
    if isinstance(value, bool):
        return value
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
        """Disabled or deleted extensions and disabled, locked or deleted users never log in."""
        return not (
            self.deleted or self.disabled or self.user_disabled or self.user_locked or self.user_deleted
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Extension:
        return cls(
            id=_int(row["id"]),
            extn=_text(row["extn"]),
            domain=_text(row["domain"]),
            name=_text(row["name"]),
            password=_text(row["password"]),
            ha1=_text(row["ha1"]),
            ha1b=_text(row["ha1b"]),
            vm_password=_text(row["vm_password"]),
            cid_name=_text(row["cid_name"]),
            cid_number=_text(row["cid_number"]),
            type=_text(row["type"]) or "SIP",
            context=_text(row["context"]),
            user_id=_int(row["user_id"]),
            call_transfer_type=_int(row["call_transfer_type"]),
            voicemail=_int(row["voicemail"]),
            ringback=_text(row["ringback"]),
            timeout=_text(row["timeout"]),
            enable_ringback=_int(row["enable_ringback"]),
            auto_record=_int(row["auto_record"]),
            call_limit=_int(row["call_limit"], 1),
            called_limit=_int(row["called_limit"], 1),
            call_authority=_int(row["call_authority"], 4),
            intercept=_int(row["intercept"]),
            group_name=_text(row["group_name"]),
            force_insert=_int(row["force_insert"]),
            force_breakdown=_int(row["force_breakdown"]),
            eavesdrop=_int(row["eavesdrop"]),
            extn_cidr=_text(row["extn_cidr"]),
            priority=_text(row["priority"]) or "99",
            weblogin_disabled=_int(row["weblogin_disabled"]),
            sync_enabled=_int(row["sync_enabled"]),
            display_order=_text(row["display_order"]) or "0",
            disabled=_int(row["disabled"]),
            enable_srtp=_int(row["enable_srtp"]),
            forced_insert=_int(row["forced_insert"]),
            eavesdropped=_int(row["eavesdropped"]),
            intercepted=_int(row["intercepted"]),
            intercepted_group_name=_text(row["intercepted_group_name"]),
            codec=_text(row["codec"]),
            mac_address=_text(row["mac_address"]),
            enable_cb_onbusy=_text(row["enable_cb_onbusy"]),
            caller_display=_int(row["caller_display"], 1),
            hotline_number=_text(row["hotline_number"]),
            hotline_type=_text(row["hotline_type"]),
            hotline_address=_text(row["hotline_address"]),
            enable_hotline=_int(row["enable_hotline"]),
            boss_extn=_flag(row["boss_extn"]),
            secretary_extn=_text(row["secretary_extn"]),
            dtmf_type=_int(row["dtmf_type"]),
            enable_extn_time_recurrences=_int(row["enable_extn_time_recurrences"]),
            enable_t38=_int(row["enable_t38"]),
            forced_breakdown=_int(row["forced_breakdown"]),
            connect_phone=_text(row["connect_phone"]),
            description=_text(row["description"]),
            deleted=row["deleted_at"] is not None,
            user_login=_text(row["user_login"]),
            user_disabled=_flag(row["user_disabled"]),
            user_locked=_flag(row["user_locked"]),
            user_deleted=row["user_deleted_at"] is not None,
        )
