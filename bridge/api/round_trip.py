"""GET then PUT of the same object: the keys bridge answers but nobody sets (pure, no I/O).

A client that PUTs back the object it read sends ids, timestamps, hashes and the live status
too. Each such key is accepted and ignored when it equals the stored value, and refused by
name when it differs: a PUT never answers 200 for a change it did not make.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bridge.api import shapes
from bridge.api.validate import Invalid
from bridge.xui import columns
from bridge.xui_values import flag

# Extension keys answered by GET /api/extensions[/:id] and the write answers, set by nobody.
EXTENSION_READ_ONLY: Mapping[str, str] = {
    **{c.name: "set by the database" for c in columns.READ_ONLY if c.name != "updated_at"},
    "tmf_type": "a leftover of XUI's schema; set dtmf_type",
    "ha1": "made from extn, domain and password; send password",
    "ha1b": "made from extn, domain and password; send password",
}
# Set by bridge on every write, so a copy read before another write differs: any well-formed
# value is accepted and ignored (refusing it would fail every second PUT of one GET).
EXTENSION_IGNORED = ("updated_at",)

USER_READ_ONLY: Mapping[str, str] = {
    "extn": 'the default extension: change it with {"action": "toggle", "extn_id": N}',
    "extn_id": 'the default extension: change it with {"action": "toggle", "extn_id": N}',
    "is_locked": "the web login's lock after failed logins (docs/admin-api-security.md)",
    "last_login_at": "set by logins",
    "created_at": "set by the database",
    "deleted_at": "set by a delete",
    "ha1": "the default extension's hash; change its password with PUT /api/extensions/:id",
    "ha1b": "the default extension's hash; change its password with PUT /api/extensions/:id",
}
USER_IGNORED = ("updated_at",)
_TIMESTAMP = re.compile(r"(|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")


def same(given: Any, stored: Any) -> bool:
    """Equal as the document's bodies spell values: 9 and "9", false and "f" are the same."""
    if given == stored and type(given) is type(stored):
        return True
    if isinstance(stored, bool):
        return isinstance(given, bool | int | str) and flag(given) == stored
    if isinstance(given, bool):
        return False
    return isinstance(given, int | str) and str(given) == str(stored)


def check(fields: Mapping[str, Any], stored: Mapping[str, Any], read_only: Mapping[str, str]) -> None:
    """Refuse, by name, the first read-only key whose value differs from the stored one."""
    for key, why in read_only.items():
        if key in fields and fields[key] is not None and not same(fields[key], stored.get(key)):
            raise Invalid(f"{key}: read-only, differs from the stored value ({why})")


def changes(values: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from what the stored row reads as: a PUT of the object GET
    answered writes nothing (not even "" over a NULL that reads as "")."""
    return {k: v for k, v in values.items() if k not in stored or not same(v, stored[k])}


def check_timestamps(fields: Mapping[str, Any], ignored: tuple[str, ...]) -> None:
    for key in ignored:
        value = fields.get(key)
        if value is not None and not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
            raise Invalid(f"{key}: must be a timestamp YYYY-MM-DD HH:MM:SS or ''")


def check_extension_live_keys(fields: Mapping[str, Any]) -> None:
    """``status`` is the live registration state and ``dids`` the DIDs bridge does not manage:
    what GET answered for them is accepted; anything else is refused by name."""
    status = fields.get("status")
    if status is not None and status not in shapes.STATUSES:
        raise Invalid(f"status: read-only (the live registration state), one of {', '.join(shapes.STATUSES)}")
    dids = fields.get("dids")
    if dids is not None and dids != []:
        raise Invalid("dids: DIDs live in XUI tables bridge does not manage; send [] or leave it out")


# Every key a PUT of the extension object may carry that extension_settings must not see.
EXTENSION_KEYS = (*EXTENSION_READ_ONLY, *EXTENSION_IGNORED, "status", "dids")
USER_KEYS = (*USER_READ_ONLY, *USER_IGNORED)
