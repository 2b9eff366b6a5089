"""The directory's extension: one row of ``extensions`` and its user, typed (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.xui_values import EXTENSION_DEFAULTS, flag, integer, text

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

        Each field is read by the converter of its type (bridge/xui_values.py); NULL reads as
        "" or 0, or the documented default (``EXTENSION_DEFAULTS``).
        """
        return cls(
            **{name: read(row[name]) for name, read in _READERS.items()},
            deleted=row["deleted_at"] is not None,
            user_deleted=row["user_deleted_at"] is not None,
        )


def _reader(name: str, kind: object) -> Callable[[Any], Any]:
    default = EXTENSION_DEFAULTS.get(name)
    if kind == "int":
        number = int(default or 0)
        return lambda value: integer(value, number)
    if kind == "str":
        spelt = str(default or "")
        return lambda value: text(value, spelt)
    return flag


# Field -> converter of its column, for every field read from a column of the same name.
_READERS = {
    f.name: _reader(f.name, f.type)
    for f in dataclasses.fields(Extension)
    if f.name not in ("deleted", "user_deleted")
}
