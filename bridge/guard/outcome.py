"""What became of a registration attempt, in words, and what to change (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.Enum):
    REGISTERED = "registered"  # correct digest (REGISTER), or sofia::register
    AUTHENTICATED = "authenticated"  # correct digest on an INVITE or SUBSCRIBE
    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_USER = "unknown_user"
    EXTENSION_DISABLED = "extension_disabled"
    EXTENSION_DELETED = "extension_deleted"
    OWNER_DISABLED = "owner_disabled"  # the owning user is disabled, locked or deleted
    NO_CREDENTIAL = "no_credential"
    REALM_MISMATCH = "realm_mismatch"
    OUTSIDE_CIDR = "outside_cidr"
    REFUSED_BY_FREESWITCH = "refused_by_freeswitch"  # from the events: bridge was not asked
    BANNED = "banned"  # the source is banned: answered "not found" at once
    LIMITED = "limited"  # this extension from this source is limited (one bad phone behind a NAT)
    UNCHECKED = "unchecked"  # a digest bridge cannot verify (auth-int, another algorithm)

    __hash__ = object.__hash__


# Outcomes that count against a source (the guard's rules read only these).
FAILURES = frozenset(
    {
        Reason.WRONG_PASSWORD,
        Reason.UNKNOWN_USER,
        Reason.EXTENSION_DISABLED,
        Reason.EXTENSION_DELETED,
        Reason.OWNER_DISABLED,
        Reason.NO_CREDENTIAL,
        Reason.REALM_MISMATCH,
        Reason.OUTSIDE_CIDR,
        Reason.REFUSED_BY_FREESWITCH,
    }
)
SUCCESSES = frozenset({Reason.REGISTERED, Reason.AUTHENTICATED})


@dataclass(frozen=True, slots=True)
class Words:
    says: str  # what happened
    change: str  # what to change


WORDS: dict[Reason, Words] = {
    Reason.REGISTERED: Words("registered", "nothing"),
    Reason.AUTHENTICATED: Words("authenticated (call or subscription)", "nothing"),
    Reason.WRONG_PASSWORD: Words(
        "wrong password: the digest does not match the extension's password",
        "set the phone's SIP password to the extension's password (XUI: extension, password)",
    ),
    Reason.UNKNOWN_USER: Words(
        "unknown user: no such extension in this domain",
        "check the phone's user name and domain, or create the extension",
    ),
    Reason.EXTENSION_DISABLED: Words(
        "the extension is disabled", "enable the extension (extensions.disabled = 0)"
    ),
    Reason.EXTENSION_DELETED: Words(
        "the extension is deleted", "restore the extension, or move the phone to another one"
    ),
    Reason.OWNER_DISABLED: Words(
        "the extension's owner is disabled, locked or deleted",
        "enable or unlock the owning user, or give the extension another owner",
    ),
    Reason.NO_CREDENTIAL: Words(
        "the extension has no password and no stored hash", "give the extension a password"
    ),
    Reason.REALM_MISMATCH: Words(
        "the digest realm is not the extension's domain (directory.realm_mismatch=refuse refused it)",
        "set the phone's realm/domain to the extension's domain, or set directory.realm_mismatch=password",
    ),
    Reason.OUTSIDE_CIDR: Words(
        "the source address is outside the extension's extn_cidr",
        "register from an address inside extn_cidr, or widen extn_cidr",
    ),
    Reason.REFUSED_BY_FREESWITCH: Words(
        "FreeSWITCH refused it without asking bridge (its user cache,"
        " inbound-reg-force-matching-username, or an ACL)",
        "read the FreeSWITCH log for this call-id; with a user@domain digest user name set"
        " inbound-reg-force-matching-username=false",
    ),
    Reason.BANNED: Words(
        "the source address is banned by the guard (answered not found, FreeSWITCH sent 403)",
        "fix the phones behind it, then unban it (DELETE /api/guard/bans/ADDRESS) or wait for expiry",
    ),
    Reason.LIMITED: Words(
        "this extension is limited from this source after repeated failures",
        "fix this phone's password; the limit expires on its own (or DELETE /api/guard/bans/ADDRESS)",
    ),
    Reason.UNCHECKED: Words(
        "answered, but the digest cannot be checked by bridge (qop=auth-int or another algorithm)",
        "nothing, unless FreeSWITCH refused it: then see its log",
    ),
}
