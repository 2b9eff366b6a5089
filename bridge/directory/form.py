"""Parse one mod_xml_curl form body into a typed DirectoryRequest (pure: bytes in, value out).

Which lookup a form is comes from its fields, as FreeSWITCH sends them
(../shared/fixtures/freeswitch/README.md, "Fields by action / purpose"):
``purpose`` (gateways, network-list) first, then ``action``, then the API lookups that
carry no action (xml_locate, user_data, user_exists/find_user_xml, list_users).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from bridge.errors import RequestError

# A real form has ~45 fields; anything far beyond that is not FreeSWITCH.
MAX_FIELDS = 500


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


# The only fields classify() reads; every other field is skipped without being decoded.
_WANTED = (
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
)
# A wanted field of "&" + body + "&", named exactly (the whole part, or the part up to its
# first "="), and its raw value ("" without "="). Every "&" separates two parts and a match
# stops before the next one, so findall meets every part in order. One regex pass costs
# half of splitting every part at its "=" (and far less than a bytes.find per name).
_WANTED_FIELD = re.compile(rf"&({'|'.join(map(re.escape, _WANTED))})(?:=([^&]*+)|(?=&))")
# A percent-escape of a byte >= 0x80: the only way an ASCII body can decode to non-UTF-8.
_HIGH_ESCAPE = re.compile(rb"%[89a-fA-F]")
# Every byte but the three that shape a form; deleting them leaves e.g. b"=&=&=%%&=".
_NOT_PUNCTUATION = bytes(sorted(set(range(256)) - set(b"&=%")))


def parse_form(body: bytes) -> DirectoryRequest:
    """The request a form body asks for; FormError (400) when it is not a directory form.

    mod_xml_curl URL-encodes every value (switch_url_encode), so a real body is ASCII, its
    escapes are of ASCII bytes and its names are plain: for such a body only the fields
    ``classify`` reads are found and unescaped. Anything else takes the general path, which
    decodes (strictly) every field. Both give the same result: the first occurrence of a
    field wins, ``+`` is a space, a field without ``=`` is empty, more than MAX_FIELDS
    fields (or a value that is not UTF-8) is a 400.
    """
    if not body.isascii() or _HIGH_ESCAPE.search(body) is not None:
        return classify(_all_fields(body))
    punctuation = body.translate(None, _NOT_PUNCTUATION)
    # Counted as parse_qsl counts them (an empty body has no field, but it has no "&" either).
    if 1 + punctuation.count(b"&") > MAX_FIELDS:
        raise FormError("body is not a form (too many fields or malformed)", code="bad_form")
    # A name's first "%" follows its "&" (or opens the body) with no "=" between them. A "+"
    # in a name needs no such care: it decodes to a space, and no wanted name has one.
    if punctuation.startswith(b"%") or b"&%" in punctuation:
        return classify(_all_fields(body))  # an escaped name: decode every field
    fields: dict[str, str] = {}
    # From the last field to the first, so the first occurrence of a name wins.
    for name, value in reversed(_WANTED_FIELD.findall("&" + body.decode("ascii") + "&")):
        text = value.replace("+", " ") if "+" in value else value
        # Every escape is of an ASCII byte: this is unquote(text) without its splitting of
        # text into ASCII and non-ASCII runs (a third of the cost).
        fields[name] = unquote_to_bytes(text).decode("ascii") if "%" in text else text
    return classify(fields)


def _all_fields(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError as exc:
        raise FormError("body is not UTF-8", code="bad_encoding") from exc
    except ValueError as exc:
        raise FormError("body is not a form (too many fields or malformed)", code="bad_form") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        # xml_locate repeats section=directory; the first occurrence is mod_xml_curl's own.
        fields.setdefault(key, value)
    return fields


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
