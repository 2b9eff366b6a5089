"""One registration attempt as the guard records it, and how it is read from a form (pure).

A sip_auth form names everything (mod_xml_curl README in tests/fixtures/freeswitch):
the digest (``sip_auth_*``), the source (``ip``, ``client_port``, ``sip_user_agent``) and
the node (``hostname``). The directory endpoint decodes these fields once, with its own
(``read_fields(body, FIELDS)``, bridge/directory/form.py); the attempt is built from them
off the lookup's path, in the guard's worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.directory.form import UNREADABLE
from bridge.guard.address import canonical
from bridge.guard.digest import Digest
from bridge.guard.outcome import Reason

# A value longer than this is cut before it is kept (a user agent is the client's to choose).
MAX_TEXT = 200


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
    # The same right digest repeated from the same source since ``at``, counted onto this
    # attempt instead of recorded again (History.repeat), and when it last came.
    repeats: int = 0
    last_at: float = 0.0

    @property
    def latest(self) -> float:
        """When this attempt, or its latest repeat, came."""
        return self.last_at if self.repeats else self.at


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]


def attempt_of(fields: Mapping[str, str]) -> FormAttempt | None:
    """The attempt in a form's fields as ``read_fields(body, FIELDS)`` decoded them (the
    directory endpoint decodes them once, for the lookup and for the guard)."""
    if fields.get("action") != "sip_auth" or UNREADABLE in fields:
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
        ip=_cut(canonical(get("ip", "")) or get("ip", "")),
        port=_cut(get("client_port", "")),
        user_agent=_cut(get("sip_user_agent", "")),
        user=_cut(user),
        domain=_cut(get("domain", "")),
        digest=digest,
        call_id=_cut(get("sip_call_id", "")),
    )


# The fields attempt_of reads (the first of each name wins).
FIELDS = frozenset(
    (
        "action", "user", "domain", "hostname", "FreeSWITCH-Hostname", "ip", "client_port",
        "sip_user_agent", "sip_call_id", "sip_auth_username", "sip_auth_realm", "sip_auth_nonce",
        "sip_auth_uri", "sip_auth_method", "sip_auth_response", "sip_auth_qop", "sip_auth_nc",
        "sip_auth_cnonce",
    )
)  # fmt: skip
