"""Provisioning input -> typed column values, by the XUI document's rules (pure: no I/O).

Every refusal is a ``RequestError`` naming the field (and the row of a bulk request), so a
client learns what to fix; nothing is written until a whole request has passed. Column
tables are the document's ("用户管理", "分机管理"), the same ones shapes.py answers from.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.errors import RequestError
from bridge.xui import columns


class Invalid(RequestError):
    """A field's value breaks a rule (400), e.g. ``password: needs an upper-case letter``."""

    status = 400
    code = "invalid"


class Missing(RequestError):
    """A required field is absent: XUI's 406 "Missing Args", with the field named."""

    status = 406
    code = "missing_args"


class TooMany(Invalid):
    """A bulk request over api.max_bulk_rows."""

    code = "too_many"


@dataclass(frozen=True, slots=True)
class Limits:
    """The configurable bounds (api.max_field_chars, api.max_bulk_rows)."""

    max_chars: int = 255
    max_rows: int = 10_000


# The document: user passwords "大写字母+小写字母+数字+特殊符号 … 8-20 位", extension passwords
# "大写字母+小写字母+数字 … 8-20 位". Printable ASCII only: a digest over other bytes
# depends on each phone's encoding.
PASSWORD_MIN, PASSWORD_MAX = 8, 20
_PRINTABLE = re.compile(r"^[\x21-\x7e]*$")
_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
_SPECIAL = re.compile("[^A-Za-z0-9]")

EXTENSION_TYPES = columns.EXTENSION_TYPES
USER_TYPES = ("NORMAL", "AGENT", "CONFMAN", "GATEWAY")

# A SIP user part FreeSWITCH can be asked for: no "@", ":", spaces or controls.
_EXTN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.+*#-]{0,63}$")
_DOMAIN = re.compile(r"^[0-9A-Za-z_.:\[\]-]{1,253}$")
_TOKEN = re.compile(r"^[^\s@]{1,64}$")  # login, context: printable, no whitespace
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd]")
# Public for the OpenAPI document (api/openapi/fields.py), which states the same rules.
EXTN_PATTERN, DOMAIN_PATTERN, TOKEN_PATTERN = _EXTN, _DOMAIN, _TOKEN

# Integer columns a client may set, with the values the document gives them meaning, and
# the settable text columns: both from the one column table (bridge/xui/columns.py).
EXTENSION_INT_RANGES: Mapping[str, tuple[int, int]] = {
    c.name: (c.low, c.high) for c in columns.SETTABLE if c.answered_as == "int"
}
EXTENSION_TEXTS: tuple[str, ...] = tuple(c.name for c in columns.SETTABLE if c.answered_as == "str")
EXTENSION_SETTABLE = frozenset(c.name for c in columns.SETTABLE)

USER_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "auto_record": (0, 1),
    "disabled": (0, 1),
    "tel_enabled": (0, 1),
    "is_super": (0, 1),
    "idle_timeout": (0, 86_400),
}
USER_TEXTS: tuple[str, ...] = ("name", "cid_name", "cid_number", "context", "vm_password", "email", "tel")
USER_SETTABLE = frozenset((*USER_INT_RANGES, *USER_TEXTS, "type", "domain", "is_admin", "agent_info"))


def where(field: str, row: str | None) -> str:
    return field if row is None else f"row {row}: {field}"


def text(value: Any, field: str, limits: Limits, row: str | None = None) -> str:
    """A string (a JSON number is read as its digits), bounded, without control characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f"{where(field, row)}: must be a string")
    out = str(value) if isinstance(value, int) else value
    if len(out) > limits.max_chars:
        raise Invalid(f"{where(field, row)}: longer than {limits.max_chars} characters")
    if _CONTROL.search(out):
        raise Invalid(f"{where(field, row)}: holds a control character")
    try:
        out.encode()
    except UnicodeEncodeError:
        raise Invalid(f"{where(field, row)}: is not valid Unicode") from None
    return out


def matching(
    value: Any, field: str, pattern: re.Pattern[str], what: str, limits: Limits, *, row: str | None = None
) -> str:
    out = text(value, field, limits, row)
    if not pattern.match(out):
        raise Invalid(f"{where(field, row)}: must be {what}")
    return out


def extn(value: Any, field: str, limits: Limits, row: str | None = None) -> str:
    return matching(value, field, _EXTN, "1-64 letters, digits or _.+*#- (a SIP user part)", limits, row=row)


def domain(value: Any, limits: Limits) -> str:
    return matching(value, "domain", _DOMAIN, "a host name or address", limits)


def token(value: Any, field: str, limits: Limits, row: str | None = None) -> str:
    return matching(value, field, _TOKEN, "1-64 characters without spaces or @", limits, row=row)


def integer(value: Any, field: str, low: int, high: int, row: str | None = None) -> int:
    """An int, or a string of one ("0": the document's bodies send both); within [low, high]."""
    if isinstance(value, bool):
        raise Invalid(f"{where(field, row)}: must be an integer")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,18}\s*", value):
        value = int(value)
    if not isinstance(value, int):
        raise Invalid(f"{where(field, row)}: must be an integer")
    if not low <= value <= high:
        raise Invalid(f"{where(field, row)}: must be between {low} and {high}")
    return value


def boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false", "t", "f"):
        return str(value) in ("1", "true", "t")
    raise Invalid(f"{field}: must be true or false")


def row_id(value: Any, field: str = "id") -> int:
    """A row id (SERIAL: int4, positive)."""
    return integer(value, field, 1, 2**31 - 1)


def _password(value: Any, field: str, special: bool) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{field}: must be a string")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise Invalid(f"{field}: must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    if not _PRINTABLE.match(value):
        raise Invalid(f"{field}: only printable ASCII characters, no spaces")
    classes = [("an upper-case letter", _UPPER), ("a lower-case letter", _LOWER), ("a digit", _DIGIT)]
    if special:
        classes.append(("a special character", _SPECIAL))
    for what, pattern in classes:
        if not pattern.search(value):
            raise Invalid(f"{field}: needs {what}")
    return value


def user_password(value: Any, field: str = "password") -> str:
    """Upper, lower, digit and special character, 8-20 (the document's user rule)."""
    return _password(value, field, special=True)


def extension_password(value: Any, field: str = "password") -> str:
    """Upper, lower and digit, 8-20 (the document's extension rule)."""
    return _password(value, field, special=False)


def required(fields: Mapping[str, Any], name: str) -> Any:
    value = fields.get(name)
    if value is None or value == "":
        raise Missing(f"Missing Args: {name}")
    return value


def _codec(value: Any, limits: Limits) -> str:
    # PUT /api/extensions sends ["PCMA", "PCMU"]; the column holds "PCMA,PCMU".
    if isinstance(value, list):
        names = [text(item, "codec", limits) for item in value]
        if any(not re.fullmatch(r"[0-9A-Za-z_.@/-]+", name) for name in names):
            raise Invalid("codec: each codec is a name like PCMA or G729@8000h")
        value = ",".join(names)
    return text(value, "codec", limits)


def _cidrs(value: Any, limits: Limits) -> str:
    out = text(value, "extn_cidr", limits)
    for part in filter(None, (p.strip() for p in out.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise Invalid(f"extn_cidr: {part!r} is not a CIDR") from None
    return out


def _extension_column(column: str, value: Any, limits: Limits) -> Any:
    declared = columns.BY_NAME[column]
    if declared.answered_as == "int":
        number = integer(value, column, declared.low, declared.high)
        return str(number) if declared.sql == "str" else number  # enable_cb_onbusy: stored as text
    if declared.sql == "bool":
        return boolean(value, column)
    if declared.choices:
        out = text(value, column, limits)
        if out not in declared.choices:
            raise Invalid(f"{column}: must be one of {', '.join(declared.choices)}")
        return out
    if column == "codec":
        return _codec(value, limits)
    if column == "extn_cidr":
        return _cidrs(value, limits)
    if column == "mac_address":
        out = text(value, column, limits)
        if out and not _MAC.match(out):
            raise Invalid("mac_address: must be six hex pairs, e.g. 00:1A:2B:3C:4D:5E")
        return out
    if column == "context":
        return token(value, column, limits)
    return text(value, column, limits)


# The document's bulk example (PUT /api/extensions) spells one key "Voicemail": that exact
# spelling is read as voicemail; any other case variant of a key is refused by name.
_EXTENSION_ALIASES = {"Voicemail": "voicemail"}


def unknown_key(key: str, known: Iterable[str], what: str) -> Invalid:
    """Keys are matched exactly: "Password" is not "password", and saying so beats a 200 that
    changed nothing."""
    meant = next((name for name in known if name.lower() == key.lower()), None)
    hint = f" (keys are case-sensitive: {meant})" if meant else ""
    return Invalid(f"{key}: not {what} bridge can set{hint}")


def extension_settings(
    fields: Mapping[str, Any], limits: Limits, ignore: Iterable[str] = ()
) -> dict[str, Any]:
    """The settable extension columns present in ``fields``, typed; keys are matched exactly
    (plus the document's "Voicemail"); unknown keys and case variants are refused by name."""
    skip = set(ignore)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in skip:
            continue
        column = _EXTENSION_ALIASES.get(key, key)
        if column not in EXTENSION_SETTABLE:
            raise unknown_key(key, (*EXTENSION_SETTABLE, *skip), "an extension field")
        if value is None:
            continue
        out[column] = _extension_column(column, value, limits)
    return out


def user_settings(fields: Mapping[str, Any], limits: Limits, ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The settable user columns present in ``fields``, typed; unknown keys refused by name."""
    skip = set(ignore)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in skip:
            continue
        if key not in USER_SETTABLE:
            raise unknown_key(key, (*USER_SETTABLE, *skip), "a user field")
        if value is None:
            continue
        if key in USER_INT_RANGES:
            low, high = USER_INT_RANGES[key]
            out[key] = integer(value, key, low, high)
        elif key == "is_admin":
            out[key] = boolean(value, key)
        elif key == "agent_info":
            out[key] = agent_info(value, limits)
        elif key == "type":
            kind = text(value, key, limits)
            if kind not in USER_TYPES:
                raise Invalid(f"type: must be one of {', '.join(USER_TYPES)}")
            out[key] = kind
        elif key == "domain":
            out[key] = domain(value, limits)
        elif key == "context":
            out[key] = token(value, key, limits)
        else:
            out[key] = text(value, key, limits)
    return out


def agent_info(value: Any, limits: Limits) -> dict[str, Any]:
    """users.agent_info (JSONB): a JSON object, or its JSON text as the document's user objects
    print it ("{}"); bounded like one text field per key."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Invalid("agent_info: must be a JSON object or its text") from None
    if not isinstance(value, dict):
        raise Invalid("agent_info: must be a JSON object or its text")
    if len(json.dumps(value)) > limits.max_chars * max(1, len(value)):
        raise Invalid(f"agent_info: longer than {limits.max_chars} characters per key")
    return value


@dataclass(frozen=True, slots=True)
class Span:
    """A muti_add range: numbers ``start`` .. ``end`` inclusive, written without leading zeros
    unless ``start`` has them (then every number keeps ``start``'s width)."""

    start: int
    end: int
    width: int

    def numbers(self) -> list[str]:
        return [str(n).zfill(self.width) for n in range(self.start, self.end + 1)]

    def __len__(self) -> int:
        return self.end - self.start + 1


def span(fields: Mapping[str, Any], start_key: str, end_key: str, limits: Limits) -> Span:
    """``users_start``/``users_end`` or ``extns_start``/``extns_end``, bounded by max_rows."""
    raw_start, raw_end = required(fields, start_key), required(fields, end_key)
    numbers = []
    for key, raw in ((start_key, raw_start), (end_key, raw_end)):
        value = text(raw, key, limits)
        if not re.fullmatch(r"\d{1,18}", value):
            raise Invalid(f"{key}: must be a number of at most 18 digits")
        numbers.append(value)
    start, end = int(numbers[0]), int(numbers[1])
    if end < start:
        raise Invalid(f"{end_key}: must not be below {start_key}")
    if end - start + 1 > limits.max_rows:
        raise TooMany(
            f"{start_key}..{end_key}: {end - start + 1} rows, at most {limits.max_rows} in one request"
        )
    width = len(numbers[0]) if numbers[0].startswith("0") else 0
    return Span(start, end, width)


def id_list(value: Any, limits: Limits, field: str = "ids") -> list[int]:
    """A JSON array of row ids (numbers or digit strings), bounded, without repeats."""
    if not isinstance(value, list) or not value:
        raise Invalid(f"{field}: must be a non-empty array of ids")
    if len(value) > limits.max_rows:
        raise TooMany(f"{field}: {len(value)} ids, at most {limits.max_rows} in one request")
    return list(dict.fromkeys(row_id(item, f"{field}[{i}]") for i, item in enumerate(value)))


def extn_list(value: Any, limits: Limits, field: str = "extns") -> list[str]:
    if not isinstance(value, list) or not value:
        raise Invalid(f"{field}: must be a non-empty array of extension numbers")
    if len(value) > limits.max_rows:
        raise TooMany(f"{field}: {len(value)} numbers, at most {limits.max_rows} in one request")
    return list(dict.fromkeys(extn(item, f"{field}[{i}]", limits) for i, item in enumerate(value)))
