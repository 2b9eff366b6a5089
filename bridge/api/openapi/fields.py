"""Request-body schemas of the provisioning endpoints, stating what validate.py enforces.

Derived from the column table (bridge/xui/columns.py: kinds, ranges, choices) and validate.py's
patterns, so a schema-driven client or fuzzer sends what the server accepts. Text lengths are
those of the default ``api.max_field_chars``.
"""

from __future__ import annotations

from bridge.api import round_trip, validate
from bridge.api.openapi.schema import BOOLEAN, INTEGER, Schema, array
from bridge.xui import columns

_MAX_CHARS = validate.Limits().max_chars
TEXT: Schema = {"type": "string", "maxLength": _MAX_CHARS, "pattern": r"^[^\x00-\x1f\x7f\ufffd]*$"}
TEXT_OR_NUMBER: Schema = {"oneOf": [TEXT, INTEGER]}


def pattern(regex: str) -> Schema:
    return {"type": "string", "pattern": regex}


def ranged(low: int, high: int) -> Schema:
    """An integer in [low, high], as a number or its digits ("1": the bulk example sends both)."""
    if 0 <= low <= high <= 9:
        digits = rf"^\s*[{low}-{high}]\s*$"
    elif low >= 0:  # no sign; at most 9 digits (some larger values in range are left out)
        digits = r"^\s*[1-9][0-9]{0,8}\s*$" if low >= 1 else r"^\s*[0-9]{1,9}\s*$"
    else:
        digits = r"^\s*-?\d{1,18}\s*$"
    return {"oneOf": [{"type": "integer", "minimum": low, "maximum": high}, pattern(digits)]}


FLAG: Schema = {"oneOf": [BOOLEAN, {"enum": [0, 1, "0", "1", "true", "false", "t", "f"]}]}
EXTN = pattern(validate.EXTN_PATTERN.pattern)
DOMAIN = pattern(validate.DOMAIN_PATTERN.pattern)
TOKEN = pattern(validate.TOKEN_PATTERN.pattern)
# Lookaheads for the classes the document's rules require (ECMA-262 regexes, as JSON Schema).
USER_PASSWORD = pattern(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])(?=.*[^A-Za-z0-9])[\x21-\x7e]{8,20}$")
EXTENSION_PASSWORD = pattern(r"^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[\x21-\x7e]{8,20}$")
# validate._cidrs: comma-separated networks as ipaddress.ip_network reads them (IPv4 here, and
# IPv6 written out in full; the server also takes IPv6's short forms), empty parts skipped.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}(/(3[0-2]|[12]?[0-9]))?"
_IPV6 = r"([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
_CIDR = rf"({_IPV4}|{_IPV6})"
CIDRS = pattern(rf"^[ ,]*({_CIDR}( *,[ ,]*{_CIDR})*)?[ ,]*$")
ROW_ID = ranged(1, 2**31 - 1)
OWNER_ID = ranged(0, 2**31 - 1)


def _column(column: columns.Column) -> Schema:
    if column.answered_as == "int":
        return ranged(column.low, column.high)
    if column.sql == "bool":
        return FLAG
    if column.choices:
        return {"type": "string", "enum": list(column.choices)}
    special: dict[str, Schema] = {
        "codec": {"oneOf": [TEXT, array(pattern(r"^[0-9A-Za-z_.@/-]+$"))]},
        "mac_address": pattern(r"^(|([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2})$"),
        "context": TOKEN,
        "extn_cidr": CIDRS,
    }
    return special.get(column.name, TEXT_OR_NUMBER)


# Every settable extension column, with its rule.
EXTENSION_SETTINGS: dict[str, Schema] = {c.name: _column(c) for c in columns.SETTABLE}
EXTENSION_SETTINGS["Voicemail"] = EXTENSION_SETTINGS["voicemail"]  # the bulk example's spelling
# What a PUT of the object GET answered may carry beside the settings (api/round_trip.py).
EXTENSION_ROUND_TRIP: dict[str, Schema] = {
    **{
        key: {"description": f"read-only: {why}; accepted when equal"}
        for key, why in round_trip.EXTENSION_READ_ONLY.items()
    },
    "updated_at": {"type": "string", "description": "ignored (set by every write)"},
    "status": {"enum": ["online", "offline", "unknown"], "description": "ignored (live state)"},
    "dids": {"type": "array", "maxItems": 0},
}

USER_SETTINGS: dict[str, Schema] = {
    **{name: ranged(low, high) for name, (low, high) in validate.USER_INT_RANGES.items()},
    **{name: TEXT_OR_NUMBER for name in validate.USER_TEXTS},
    "context": TOKEN,
    "type": {"type": "string", "enum": list(validate.USER_TYPES)},
    "domain": DOMAIN,
    "is_admin": FLAG,
    "agent_info": {"oneOf": [{"type": "object"}, TEXT]},
}
USER_ROUND_TRIP: dict[str, Schema] = {
    **{
        key: {"description": f"read-only: {why}; accepted when equal"}
        for key, why in round_trip.USER_READ_ONLY.items()
    },
    "updated_at": {"type": "string", "description": "ignored (set by every write)"},
}


def body(properties: dict[str, Schema], required: list[str], *, closed: bool = True) -> Schema:
    """A JSON object body; ``closed``: the server refuses any other key by name."""
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    if closed:
        schema["additionalProperties"] = False
    return {"required": True, "content": {"application/json": {"schema": schema}}}
