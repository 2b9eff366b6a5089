"""One registration attempt as the guard records it, and how it is read from a form (pure).

A sip_auth form names everything (mod_xml_curl README in ../shared/fixtures/freeswitch):
the digest (``sip_auth_*``), the source (``ip``, ``client_port``, ``sip_user_agent``) and
the node (``hostname``). The form is read here in full, off the lookup's path (the guard's
worker); the path itself only ever reads ``ip`` (``source_ip``), and only while a ban exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from bridge.guard.digest import Digest
from bridge.guard.outcome import Reason

# A value longer than this is cut before it is kept (a user agent is the client's to choose).
MAX_TEXT = 200
_IP_FIELD = re.compile(rb"(?:^|&)ip=([^&]*)")


@dataclass(frozen=True, slots=True)
class FormAttempt:
    """The parts of a sip_auth form the guard reads."""

    node: str
    ip: str
    port: str
    user_agent: str
    user: str  # the directory user id as sent (1001 or 1001@domain)
    domain: str
    digest: Digest
    call_id: str = ""

    @property
    def extn(self) -> str:
        return self.user.partition("@")[0]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One line of an extension's history."""

    at: float  # epoch seconds
    node: str
    ip: str
    port: str
    user_agent: str
    username: str  # the digest username form: 1001 or 1001@domain
    realm: str
    method: str  # REGISTER, INVITE, SUBSCRIBE ("" from an event)
    reason: Reason
    source: str  # "lookup" (bridge answered) or "event" (FreeSWITCH told)
    detail: str = ""
    # What FreeSWITCH then decided, from its events ("" until heard): registered / refused.
    freeswitch: str = ""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]


def read_form(body: bytes) -> FormAttempt | None:
    """The attempt a sip_auth form body describes; None when it is not one (or not readable)."""
    try:
        fields = _wanted_fields(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if fields.get("action") != "sip_auth":
        return None
    get = fields.get
    user = get("user", "")
    digest = Digest(
        username=_cut(get("sip_auth_username", "") or user),
        realm=_cut(get("sip_auth_realm", "")),
        nonce=get("sip_auth_nonce", ""),
        uri=get("sip_auth_uri", ""),
        method=_cut(get("sip_auth_method", "")),
        response=get("sip_auth_response", ""),
        qop=get("sip_auth_qop", ""),
        nc=get("sip_auth_nc", ""),
        cnonce=get("sip_auth_cnonce", ""),
    )
    return FormAttempt(
        node=_cut(get("hostname", "") or get("FreeSWITCH-Hostname", "")),
        ip=_cut(get("ip", "")),
        port=_cut(get("client_port", "")),
        user_agent=_cut(get("sip_user_agent", "")),
        user=_cut(user),
        domain=_cut(get("domain", "")),
        digest=digest,
        call_id=_cut(get("sip_call_id", "")),
    )


# The fields read_form uses; the first of each name wins, as parse_qsl + setdefault did.
_WANTED = frozenset(
    (
        "action", "user", "domain", "hostname", "FreeSWITCH-Hostname", "ip", "client_port",
        "sip_user_agent", "sip_call_id", "sip_auth_username", "sip_auth_realm", "sip_auth_nonce",
        "sip_auth_uri", "sip_auth_method", "sip_auth_response", "sip_auth_qop", "sip_auth_nc",
        "sip_auth_cnonce",
    )
)  # fmt: skip
_MAX_FIELDS = 1000


def _wanted_fields(text: str) -> dict[str, str]:
    """The wanted fields of a urlencoded form, only those decoded: a REGISTER form has ~50
    fields, and decoding them all (parse_qsl) was most of the guard's cost per lookup.
    Raises ValueError past _MAX_FIELDS fields and UnicodeDecodeError on bad UTF-8."""
    parts = text.split("&")
    if len(parts) > _MAX_FIELDS:
        raise ValueError("too many fields")
    fields: dict[str, str] = {}
    for part in parts:
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key, errors="strict")
        if key in _WANTED and key not in fields:
            fields[key] = unquote_plus(value, errors="strict")
    return fields


def source_ip(body: bytes) -> str:
    """The ``ip`` field of a form, read without parsing the rest (the lookup path's one read)."""
    match = _IP_FIELD.search(body)
    if match is None:
        return ""
    raw = match.group(1)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return ""
    return unquote(text) if "%" in text else text
