"""The XUI ``extensions`` columns, each declared once (pure data, no I/O).

One row per column of the document's table ("分机管理", tests/fixtures/xui/xui-rest-api.zh.txt):
its SQL kind (what the directory reads it as), its JSON kind (what the admin API answers and
accepts), the documented default (what NULL or "" reads as), the range the table gives an
integer meaning, and who may write it. The directory's reader (directory/extension.py), the
API's shapes (api/shapes.py), validation (api/validate.py), the OpenAPI schemas and the
defaults are all derived from ``EXTENSION_COLUMNS`` when they are imported.

Adding a flag: a migration (bridge/sql/), one ``Column`` row here, a field of the same name
and SQL kind on ``directory.extension.Extension`` (checked when that module is imported), and
a ``FlagRule`` (directory/flags.py) when FreeSWITCH acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "str", "bool", "timestamp"]
# Who writes a column through the API:
#   "setting"  any admin, through the column's own validator (the default);
#   "identity" its own rules (extn, domain, user_id, password: see api/provision/extensions.py);
#   "derived"  bridge computes it (ha1, ha1b from the password);
#   "read"     nobody: answered, and a write of the stored value is accepted and ignored.
Access = Literal["setting", "identity", "derived", "read"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql: Kind
    json: Kind | None = None  # None: answered as ``sql``
    default: int | str | bool = ""
    low: int = 0
    high: int = 1
    access: Access = "setting"
    served: bool = True  # answered in extension objects (secrets are not)
    directory: bool = True  # read by the directory (a field of directory.extension.Extension)
    choices: tuple[str, ...] = ()
    # Not created by bridge's schema: read when the database has it, else its default.
    optional: bool = False

    @property
    def answered_as(self) -> Kind:
        return self.json or self.sql


def _int(
    name: str, default: int = 0, high: int = 1, access: Access = "setting", directory: bool = True
) -> Column:
    return Column(name, "int", default=default, high=high, access=access, directory=directory)


def _str(
    name: str,
    default: str = "",
    access: Access = "setting",
    served: bool = True,
    choices: tuple[str, ...] = (),
) -> Column:
    return Column(name, "str", default=default, access=access, served=served, choices=choices)


EXTENSION_TYPES = ("SIP", "WebRTC", "SIP+WebRTC", "H323", "GATEWAY", "HK", "TDM")

# The document's table order. Ranges are the values the table gives a meaning.
EXTENSION_COLUMNS: tuple[Column, ...] = (
    _int("id", high=2**31 - 1, access="read"),
    _str("name"),
    _str("domain", access="identity"),
    _str("description"),
    _str("extn", access="identity"),
    _str("password", access="identity", served=False),
    _str("vm_password"),
    _str("cid_number"),
    _str("cid_name"),
    _str("type", "SIP", choices=EXTENSION_TYPES),
    _str("connect_phone"),
    _int("call_transfer_type", high=4),  # 0 none 1 ring both 2 no answer 3 failure 4 always
    _int("voicemail"),
    _str("ringback"),
    _str("timeout"),
    _int("enable_ringback"),
    _int("auto_record"),
    _int("call_limit", 1),
    _int("called_limit", 1),
    _int("call_authority", 4, high=4),  # 0 emergency .. 4 international
    _int("intercept", high=2),  # 0 none 1 group 2 global
    _str("group_name"),
    _str("context"),
    _int("user_id", high=2**31 - 1, access="identity"),
    _int("force_insert"),
    _int("force_breakdown"),
    _int("eavesdrop"),
    _str("extn_cidr"),
    _str("priority", "99"),
    _int("weblogin_disabled"),
    _str("ha1b", access="derived", served=False),
    _str("ha1", access="derived", served=False),
    _int("sync_enabled"),
    _str("display_order", "0"),
    _int("disabled"),
    _int("enable_srtp"),
    _int("forced_insert"),
    _int("eavesdropped"),
    _int("intercepted", high=2),
    _str("intercepted_group_name"),
    _str("codec"),
    _str("mac_address"),
    # VARCHAR in the table, a number in every example and in the column's meaning (on/off):
    # stored as text (the directory hands the text to the dialplan), answered as an integer.
    Column("enable_cb_onbusy", "str", json="int", default=0),
    _int("caller_display", 1),
    _str("hotline_number"),
    _str("hotline_type"),
    _str("hotline_address"),
    _int("enable_hotline"),
    Column("boss_extn", "bool", default=False),
    # The table says DEFAULT 0; every example prints "" (sql/070 sets the default to '').
    _str("secretary_extn"),
    _int("dtmf_type", high=3),  # 0 unset 1 info 2 inband 3 rfc2833
    _int("enable_extn_time_recurrences"),
    _int("enable_t38"),
    _int("forced_breakdown"),
    Column("created_at", "timestamp", access="read", directory=False),
    Column("updated_at", "timestamp", access="read", directory=False),
    Column("deleted_at", "timestamp", access="read", directory=False),
    # Not in the table: every GET example carries it beside dtmf_type, with its own value
    # (tests/fixtures/xui/README.md), so real XUI databases hold the column. bridge creates
    # no column in XUI's table: answered from the column where it exists, else 0. Read-only;
    # FreeSWITCH acts on dtmf_type.
    Column("tmf_type", "int", high=3, default=0, access="read", directory=False, optional=True),
)

BY_NAME = {column.name: column for column in EXTENSION_COLUMNS}


def answered(kind: Kind) -> tuple[Column, ...]:
    """The served columns answered as ``kind``, in table order."""
    return tuple(c for c in EXTENSION_COLUMNS if c.served and c.answered_as == kind)


# What NULL (or "") reads as, for the columns whose default is not 0, "" or false.
EXTENSION_DEFAULTS: dict[str, int | str] = {
    c.name: c.default
    for c in EXTENSION_COLUMNS
    if isinstance(c.default, int | str) and not isinstance(c.default, bool) and c.default not in (0, "")
}
SETTABLE = tuple(c for c in EXTENSION_COLUMNS if c.access == "setting")
READ_ONLY = tuple(c for c in EXTENSION_COLUMNS if c.access == "read")
