"""Parse one mod_xml_curl form body into a typed DirectoryRequest (pure: bytes in, value out).

Which lookup a form is comes from its fields, as FreeSWITCH sends them
(tests/fixtures/freeswitch/README.md, "Fields by action / purpose"):
``purpose`` (gateways, network-list) first, then ``action``, then the API lookups that
carry no action (xml_locate, user_data, user_exists/find_user_xml, list_users).
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from bridge.errors import RequestError

# A real form has ~45 fields; anything far beyond that is not FreeSWITCH.
MAX_FIELDS = 500
# Longest user, domain, realm or group accepted (directory.max_value_chars): a DNS name
# has at most 253 characters, an XUI extension number far fewer.
MAX_VALUE_CHARS = 255


class Kind(enum.Enum):
    SIP_AUTH = "sip_auth"
    USER_CALL = "user_call"
    GROUP_CALL = "group_call"
    VOICEMAIL = "voicemail"  # message-count and voicemail-lookup
    REVERSE_AUTH = "reverse-auth-lookup"
    VERTO_AUTH = "jsonrpc-authenticate"
    USER = "user"  # user_exists, find_user_xml, user_data, any other per-user action
    XML_LOCATE = "xml_locate"
    LIST_USERS = "list_users"
    GATEWAYS = "gateways"
    NETWORK_LIST = "network-list"


_KIND_OF_ACTION = {
    "sip_auth": Kind.SIP_AUTH,
    "user_call": Kind.USER_CALL,
    "group_call": Kind.GROUP_CALL,
    "message-count": Kind.VOICEMAIL,
    "voicemail-lookup": Kind.VOICEMAIL,
    "reverse-auth-lookup": Kind.REVERSE_AUTH,
    "jsonrpc-authenticate": Kind.VERTO_AUTH,
}

# Every DirectoryRequest.action (the metrics label): FreeSWITCH's words, those of the table
# above and the ones parse_form names below; anything else is counted as "other".
LOOKUP_ACTIONS = frozenset(
    {
        *_KIND_OF_ACTION,
        "user_exists",
        "user_data",
        "find_user_xml",
        "xml_locate",
        "list_users",
        "gateways",
        "network-list",
        "other",
    }
)


class FormError(RequestError):
    """The body is not a mod_xml_curl directory form: 400 with a one-line reason."""


@dataclass(frozen=True, slots=True)
class DirectoryRequest:
    kind: Kind
    # The metrics label: one of LOOKUP_ACTIONS.
    action: str
    # The domain asked for ("" for gateways and the all-domains list_users).
    domain: str
    # The user id exactly as sent (``1001`` or ``1001@xswitch.test``): echoed in <user id>.
    user: str
    # sip_auth: the digest username and realm as the phone sent them.
    auth_username: str = ""
    realm: str = ""
    # user_data: var, param or attr; group_call: the group.
    data_type: str = ""
    group: str = ""

    @property
    def extn(self) -> str:
        """The extension number: the user id without an ``@domain`` suffix."""
        return self.user.partition("@")[0]

    @property
    def user_domain(self) -> str:
        """The domain the user id names itself (``1001@d``), or "" when it names none."""
        return self.user.partition("@")[2]


# The only fields classify() reads.
_WANTED = frozenset(
    {
        "section",
        "purpose",
        "domain",
        "tag_name",
        "key_value",
        "action",
        "user",
        "group_name",
        "group",
        "sip_auth_username",
        "sip_auth_realm",
        "tag_attr_val",
        "type",
        "Event-Name",
    }
)
# A "%" not followed by two hex digits: mod_xml_curl escapes every value with
# switch_url_encode, so a real form never has one (parse_qsl would keep it verbatim).
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What no directory value may hold: C0 controls (NUL included), DEL and C1 controls.
# None is a valid user, domain or realm, and PostgreSQL refuses a NUL in text outright.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


# Where read_fields names the first ``also`` field it could not decode (bad UTF-8).
UNREADABLE = "\x00unreadable"


_REMEMBERED = 1024
_REMEMBERED_CHARS = 256


def _unquoted(value: str) -> str:
    """A percent-encoded value decoded (UTF-8, strict; UnicodeDecodeError otherwise).

    The encoded values a lookup reads are mostly a phone's user agent and its digest URI,
    which repeat from lookup to lookup: a short one's decoding is remembered (~1.5 µs each
    saved, bounded: _REMEMBERED values of at most _REMEMBERED_CHARS, a flood only evicts)."""
    if len(value) > _REMEMBERED_CHARS:
        return unquote_plus(value, errors="strict")
    return _remembered(value)


@functools.lru_cache(maxsize=_REMEMBERED)
def _remembered(value: str) -> str:
    return unquote_plus(value, errors="strict")


def read_fields(body: bytes, also: frozenset[str] = frozenset()) -> dict[str, str]:
    """The fields of a form body that classify() reads, plus ``also``, decoded once.

    The body must be UTF-8 with well-formed percent-escapes and at most MAX_FIELDS fields
    (FormError otherwise); the first occurrence of a field wins, ``+`` is a space, a field
    without ``=`` is empty. Only the fields asked for are decoded (a REGISTER form has ~45;
    classify() reads ~8, the registration guard ~18 more, passed as ``also``). An ``also``
    field that is not UTF-8 once decoded is left out and named under ``UNREADABLE``: the
    lookup is still answered (it does not read that field); its reader decides.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError("body is not UTF-8", code="bad_encoding") from exc
    # Counted as parse_qsl counts them: every "&" separates two fields.
    if text.count("&") >= MAX_FIELDS:
        raise FormError("body is not a form (too many fields)", code="bad_form")
    if _BAD_ESCAPE.search(text) is not None:
        raise FormError("malformed percent-escape", code="bad_escape")
    fields: dict[str, str] = {}
    for part in text.split("&"):
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        # The first occurrence wins (xml_locate repeats section=directory, and
        # mod_xml_curl's own comes first).
        if name in fields or (name not in _WANTED and name not in also):
            continue
        if "%" not in value and "+" not in value:
            fields[name] = value
            continue
        try:
            fields[name] = _unquoted(value)
        except UnicodeDecodeError as exc:
            if name in _WANTED:
                raise FormError(f"{name} is not UTF-8", code="bad_encoding") from exc
            fields.setdefault(UNREADABLE, name)
    return fields


def request_of(fields: dict[str, str], *, max_value_chars: int = MAX_VALUE_CHARS) -> DirectoryRequest:
    """The request ``read_fields`` found; FormError (400) when it is not a directory form.

    Every value the request carries (user, domain, realm, group ...) is checked: no
    control character, at most ``max_value_chars`` characters, so nothing a database
    would refuse (a NUL) or a log line could be forged with ever goes further.
    """
    request = classify(fields)
    _check_values(request, max_value_chars)
    return request


def parse_form(body: bytes, *, max_value_chars: int = MAX_VALUE_CHARS) -> DirectoryRequest:
    """The request a form body asks for: ``request_of(read_fields(body))``."""
    return request_of(read_fields(body), max_value_chars=max_value_chars)


def _check_values(request: DirectoryRequest, max_chars: int) -> None:
    values = (
        request.domain,
        request.user,
        request.auth_username,
        request.realm,
        request.group,
        request.data_type,
    )
    for name, value in zip(_VALUE_NAMES, values, strict=True):
        if len(value) > max_chars:
            raise FormError(f"{name} longer than {max_chars} characters", code="value_too_long")
        if _CONTROL.search(value) is not None:
            raise FormError(f"{name} holds a control character", code="bad_value")


_VALUE_NAMES = ("domain", "user", "sip_auth_username", "sip_auth_realm", "group_name", "type")


def classify(fields: dict[str, str]) -> DirectoryRequest:
    section = fields.get("section")
    if section is None:
        raise FormError("missing field: section", code="missing_field")
    if section != "directory":
        raise FormError(f"section {section[:40]!r} is not served here", code="wrong_section")
    purpose = fields.get("purpose", "")
    if purpose == "gateways":
        return DirectoryRequest(Kind.GATEWAYS, "gateways", "", "")
    domain = fields.get("domain") or (
        fields.get("key_value", "") if fields.get("tag_name") == "domain" else ""
    )
    if purpose == "network-list":
        return DirectoryRequest(Kind.NETWORK_LIST, "network-list", _need(domain, "domain"), "")
    action = fields.get("action", "")
    user = fields.get("user", "")
    if action in _KIND_OF_ACTION:
        kind = _KIND_OF_ACTION[action]
        domain = _need(domain, "domain")
        if kind is Kind.GROUP_CALL:
            group = fields.get("group_name") or fields.get("group", "")
            return DirectoryRequest(kind, action, domain, "", group=_need(group, "group_name"))
        user = _need(user, "user")
        if kind is Kind.SIP_AUTH:
            return DirectoryRequest(
                kind,
                action,
                domain,
                user,
                auth_username=fields.get("sip_auth_username") or user,
                realm=fields.get("sip_auth_realm", ""),
            )
        return DirectoryRequest(kind, action, domain, user)
    if action:
        # A per-user action this bridge does not know by name: answer it as a plain lookup.
        return DirectoryRequest(Kind.USER, "other", _need(domain, "domain"), _need(user, "user"))
    if fields.get("tag_attr_val") is not None and not user:
        return DirectoryRequest(
            Kind.XML_LOCATE, "xml_locate", _need(fields["tag_attr_val"], "tag_attr_val"), ""
        )
    if user:
        data_type = fields.get("type", "")
        label = "user_data" if data_type in ("var", "param", "attr") else "user_exists"
        return DirectoryRequest(Kind.USER, label, _need(domain, "domain"), user, data_type=data_type)
    if "Event-Name" not in fields:
        # list_users sends only the five basic fields (with or without a domain).
        return DirectoryRequest(Kind.LIST_USERS, "list_users", domain, "")
    if domain:
        return DirectoryRequest(Kind.XML_LOCATE, "xml_locate", domain, "")
    raise FormError("missing field: user or domain", code="missing_field")


def _need(value: str, name: str) -> str:
    if not value:
        raise FormError(f"missing field: {name}", code="missing_field")
    return value
