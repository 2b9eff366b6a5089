"""Decide the answer to a directory request from the extensions the store returned (pure).

The answer is a small tree of values (``Answer``); ``render.py`` turns it into XML. An
``Answer`` with no domains is the not-found document. Which lookup gets what, and why,
is written up in docs/directory.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bridge import hashes
from bridge.directory import flags
from bridge.directory.extension import Extension
from bridge.directory.form import DirectoryRequest, Kind

Pairs = flags.Pairs


@dataclass(frozen=True, slots=True)
class Policy:
    """The directory settings a decision depends on (from config.directory)."""

    send_password: bool = False
    realm_mismatch: Literal["refuse", "password"] = "refuse"
    # directory.fs_cacheable_ms: > 0 marks per-user answers cacheable for FreeSWITCH.
    cacheable_ms: int = 0
    # directory.trust_extn_cidr: list extn_cidr in network-list answers (see answer_network_list).
    trust_extn_cidr: bool = False


@dataclass(frozen=True, slots=True)
class User:
    id: str
    params: Pairs
    variables: Pairs = ()
    # Only in network-list answers: switch_core.c reads <user cidr=...> to build ACLs.
    cidr: str = ""
    # Per-user answers with fs_cacheable_ms > 0: how long FreeSWITCH may keep the user (ms).
    cacheable: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: tuple[User, ...]


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    params: Pairs = ()
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    domains: tuple[Domain, ...]
    # Why, for the log line and metrics: found, unknown, disabled, no_credential, ...
    reason: str
    # sip_auth only: "" (realm matched), "refused" or "password".
    realm_mismatch: str = ""

    @property
    def found(self) -> bool:
        return bool(self.domains)


# The domain-level params every domain answer carries: the SIP dial-string is the default
# for user/ and group_call when a user names none of its own.
DOMAIN_PARAMS: Pairs = (("dial-string", flags.SOFIA_DIAL),)

# Kinds answered from one extension (store.get).
PER_USER = frozenset(
    {Kind.SIP_AUTH, Kind.USER_CALL, Kind.VOICEMAIL, Kind.REVERSE_AUTH, Kind.VERTO_AUTH, Kind.USER}
)


def not_found(reason: str, realm_mismatch: str = "") -> Answer:
    return Answer((), reason, realm_mismatch)


def credentials(e: Extension) -> tuple[str, str] | None:
    """(ha1, ha1b): stored, else computed from the password; None when there is neither."""
    ha1, ha1b = e.ha1.strip().lower(), e.ha1b.strip().lower()
    if e.password:
        ha1 = ha1 or hashes.ha1(e.extn, e.domain, e.password)
        ha1b = ha1b or hashes.ha1b(e.extn, e.domain, e.password)
    if not ha1 or not ha1b:
        return None
    return ha1, ha1b


def answer_user(request: DirectoryRequest, e: Extension | None, policy: Policy) -> Answer:
    if e is None:
        return not_found("unknown")
    if not e.can_authenticate:
        return not_found("disabled")
    if request.user_domain and request.user_domain != e.domain:
        return not_found("unknown")
    creds = credentials(e)
    if creds is None:
        return not_found("no_credential")
    ha1, ha1b = creds
    mismatch = ""
    # Digest username 1001@domain hashes as "1001@domain:realm:pw" (ha1b), plain 1001 as ha1.
    a1 = ha1b if "@" in (request.auth_username or request.user) else ha1
    secret: Pairs = (("a1-hash", a1),)
    if request.kind is Kind.SIP_AUTH and request.realm and request.realm != e.domain:
        # The stored hashes were made with realm = the domain: they cannot match.
        if policy.realm_mismatch == "password" and e.password:
            secret, mismatch = (("password", e.password),), "password"
        else:
            return not_found("realm_mismatch", "refused")
    elif policy.send_password and e.password:
        secret = (*secret, ("password", e.password))
    # FreeSWITCH caches the merged user by (key, user id as asked, domain) and reuses it for
    # every kind of lookup of that id (sip_auth, user/ calls, voicemail, user_data): so a
    # cacheable answer carries what each kind adds, whichever kind asked first. The
    # credential stays the one for the id form asked (ha1 for 1001, ha1b for 1001@domain),
    # which is the form every later lookup under the same cache key asks for too.
    complete = policy.cacheable_ms > 0
    cacheable = str(policy.cacheable_ms) if complete else ""
    if request.kind is Kind.VERTO_AUTH and secret != (("a1-hash", ha1),):
        # mod_verto compares a1-hash with md5(id:domain:password), id without @domain;
        # an answer unlike the others for the same id must not be reused by them.
        secret, cacheable = (("a1-hash", ha1),), ""
    reverse = policy.send_password and bool(e.password)
    if request.kind is Kind.REVERSE_AUTH and not reverse:
        return not_found("reverse_auth_off")
    if reverse and (complete or request.kind is Kind.REVERSE_AUTH):
        # The plaintext digest credentials FreeSWITCH answers a phone's challenge with.
        secret = (*secret, ("reverse-auth-user", e.extn), ("reverse-auth-pass", e.password))
    params: Pairs = (
        *secret,
        ("allow-empty-password", "false"),
        ("dial-string", flags.dial_string(e)),
        *flags.extension_params(e),
    )
    if e.vm_password and (complete or request.kind is Kind.VOICEMAIL):
        params = (*params, ("vm-password", e.vm_password))
    variables = flags.extension_variables(e)
    if not e.caller_display and (complete or request.kind is Kind.USER_CALL):
        # Read when this user is called (originate applies the callee's user variables).
        variables = (*variables, ("origination_privacy", "hide_name:hide_number"))
    user = User(request.user, params, variables, cacheable=cacheable)
    return Answer((Domain(request.domain, DOMAIN_PARAMS, (user,)),), "found", mismatch)


def _listed_user(e: Extension, cidr: bool = False) -> User | None:
    """A user as domain-wide answers list it (ha1 only: FreeSWITCH never digests with these)."""
    creds = credentials(e)
    if not e.can_authenticate or creds is None:
        return None
    params: Pairs = (
        ("a1-hash", creds[0]),
        ("allow-empty-password", "false"),
        ("dial-string", flags.dial_string(e)),
        *flags.extension_params(e),
    )
    return User(e.extn, params, flags.extension_variables(e), e.extn_cidr.replace(" ", "") if cidr else "")


def answer_group(
    request: DirectoryRequest, extensions: Sequence[Extension], member_ids: frozenset[int] = frozenset()
) -> Answer:
    """The group's enabled extensions: those whose ``group_name`` lists it, and the XUI
    group's members (``member_ids``, from directory/groups.py), in the domain's order."""
    members = []
    for e in extensions:
        if e.id in member_ids or request.group in (g.strip() for g in e.group_name.split(",")):
            user = _listed_user(e)
            if user is not None:
                members.append(user)
    if not members:
        return not_found("unknown")
    group = Group(request.group, tuple(members))
    return Answer((Domain(request.domain, DOMAIN_PARAMS, groups=(group,)),), "found")


def answer_domain_users(domain: str, extensions: Sequence[Extension]) -> Domain | None:
    users = tuple(u for u in (_listed_user(e) for e in extensions) if u is not None)
    return Domain(domain, DOMAIN_PARAMS, users) if users else None


def answer_list_users(domains: Sequence[Domain]) -> Answer:
    return Answer(tuple(domains), "found") if domains else not_found("unknown")


def answer_network_list(
    request: DirectoryRequest, extensions: Sequence[Extension], trust_cidr: bool
) -> Answer:
    """The users switch_core.c turns into ACL entries (``<user cidr=...>``), only on opt-in.

    switch_load_network_lists adds each user's ``cidr`` attribute to the lists that name
    the domain (the vanilla ``domains`` list), tagged with that user; a profile applying
    such a list with ``apply-inbound-acl`` then takes a request from inside the CIDR as
    that user WITHOUT a digest challenge (sofia.c/sofia_reg.c). extn_cidr is meant to
    restrict, which the sip_auth param ``auth-acl`` does (flags.py); trusting an address
    instead is ``directory.trust_extn_cidr``. Without it the domain is listed, no user.
    """
    if not extensions:
        return not_found("unknown")
    users = []
    for e in extensions if trust_cidr else ():
        if e.extn_cidr.strip():
            user = _listed_user(e, cidr=True)
            if user is not None:
                users.append(user)
    return Answer((Domain(request.domain, DOMAIN_PARAMS, tuple(users)),), "found")


def answer_locate(request: DirectoryRequest, known: Sequence[str]) -> Answer:
    if request.domain not in known:
        return not_found("unknown")
    return Answer((Domain(request.domain, DOMAIN_PARAMS),), "found")


def answer_gateways(known: Sequence[str]) -> Answer:
    # sofia.c (profile domain "all") walks <section><domain name=...> and, with
    # parse="false", only takes the names as aliases: no users needed.
    if not known:
        return not_found("unknown")
    return Answer(tuple(Domain(name) for name in known), "found")
