"""The guard at work: the lookup path's probe, the bounded queue, and the task that judges.

    lookup path:  refused(fields, request) one dict probe (nothing read while no ban exists)
                  observe(fields, ...)     one append to its source's queue (fields as decoded)
    events:       on_delta(delta)          the registration state's Deltas: new bindings, and
                                           FreeSWITCH's decisions (register_attempt / _failure)
    guard task:   a right digest repeating its extension's newest attempt: counted onto it
                  (_repeat: one MD5); anything else:
                  attempt_of -> classify (digest.py) -> History -> Rules -> BanStore -> Bans
    poll task:    BanStore.changed() every guard.poll_seconds -> Bans (another instance's too)
    listeners:    subscribe(listener) <- Judged (an attempt recorded), BanChanged (a ban
                  learned, extended or forgotten): the operator console's stream

The queue is one per source (an IPv4 address or an IPv6 prefix), served in turn, each at most
guard.queue_per_source long: a flood from one source cannot crowd out another's attempts.
Addresses are compared canonical (address.py); once guard.ipv6_widen_after addresses of one
IPv6 prefix are banned, the prefix is; at most guard.max_bans bans are in force.

Everything here runs on the asyncio loop; nothing waits on the lookup path.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client import Counter

from bridge.config import GuardConfig
from bridge.directory.extension import Extension
from bridge.directory.form import UNREADABLE, DirectoryRequest
from bridge.directory.lookup import credentials
from bridge.errors import DatabaseUnavailable
from bridge.guard import digest
from bridge.guard.address import canonical, is_network, prefix_of, source_of
from bridge.guard.attempt import FIELDS, Attempt, FormAttempt, attempt_of
from bridge.guard.history import History, key_of
from bridge.guard.metrics import GuardMetrics
from bridge.guard.nft import NftSet
from bridge.guard.outcome import FAILURES, SUCCESSES, Reason
from bridge.guard.rules import Rules, RuleSettings, Verdict
from bridge.guard.store import CHANGE_MARGIN, Ban, BanStore
from bridge.registrations.events import AuthSeen, Registered
from bridge.registrations.model import Delta, RegistrationView

log = logging.getLogger(__name__)

_RENEW_SECONDS = 60.0

# The lookup's answer reason (directory/lookup.py) -> the outcome, when no digest is checked.
_REASON_OF_ANSWER = {
    "unknown": Reason.UNKNOWN_USER,
    "no_credential": Reason.NO_CREDENTIAL,
    "realm_mismatch": Reason.REALM_MISMATCH,
    "banned": Reason.BANNED,
    "limited": Reason.LIMITED,
}


@dataclass(frozen=True, slots=True)
class Judged:
    """An attempt the guard recorded in ``key``'s history (extn@domain, lower-case)."""

    key: str
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class BanChanged:
    """A ban or limit came into force or was extended (``lifted`` False), or ended (True)."""

    ban: Ban
    lifted: bool


GuardEvent = Judged | BanChanged


def printable(text: str) -> str:
    """A value for a log line: control characters and backslashes escaped, at most 200 characters."""
    text = text[:200]
    if text.isprintable() and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii")


def outside_cidr(ip: str, extn_cidr: str) -> bool:
    """Whether ``ip`` is outside every CIDR of ``extn_cidr`` (the answer's ``auth-acl``).

    sofia splits ``auth-acl`` at commas and lets an address in when any entry admits it
    (sofia_reg.c, sofia_reg_parse_auth); an entry that is not a CIDR names an ACL list that
    bridge cannot see, so then nothing is concluded (False).
    """
    entries = [entry.strip() for entry in extn_cidr.split(",") if entry.strip()]
    if not entries:
        return False
    try:
        address = ipaddress.ip_address(ip)
        networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]
    except ValueError:
        return False
    return not any(address.version == net.version and address in net for net in networks)


class _Lookup(NamedTuple):
    """A lookup queued for the task (a tuple: made on the lookup path, ~1 µs less than a
    frozen dataclass)."""

    at: float
    fields: Mapping[str, str]
    reason: str
    realm_mismatch: str
    # The record the answer came from; None: read it from the directory store.
    extension: Extension | None = None


@dataclass(slots=True)
class _Proof:
    """A right digest recorded as its extension's newest attempt: what a repeat must match,
    and what counting one touches (everything in one object: the check reads nothing else)."""

    said: tuple[str, ...]  # _said of its form
    extension: Extension  # the record it was checked against (a changed record is a new object)
    a1: str
    ha2: str
    at: float  # the attempt's time
    ip: str  # its source, canonical
    counted: Counter  # bridge_guard_attempts_total{reason=its outcome}
    renewed: float  # when its source's trust and its place in the history were last renewed


def _said(fields: Mapping[str, str]) -> tuple[str, ...]:
    """What a repeat of a right digest must say as the first did, beyond what its digest
    proves: the source, the node, the user agent, the user. The digest user name, realm,
    method, URI and qop need no comparing: the response is checked against the A1 and HA2
    of the first, so a repeat that verifies used the same ones."""
    get = fields.get
    return (
        get("ip", ""), get("client_port", ""), get("sip_user_agent", ""), get("hostname", ""),
        get("FreeSWITCH-Hostname", ""), get("user", ""), get("domain", ""),
    )  # fmt: skip


def _ended(ban: Ban) -> str:
    """Why a ban read back as ended is forgotten: evicted (guard.max_bans), lifted, expired."""
    if ban.lifted_by == "evicted":
        return "evicted"
    return "lifted" if ban.lifted_by else "expired"


def settings_of(config: GuardConfig) -> RuleSettings:
    return RuleSettings(
        window=config.window_seconds,
        max_failures=config.max_failures,
        max_unknown_users=config.max_unknown_users,
        scanner_agents=config.scanner_agents,
        trusted_seconds=config.trusted_seconds,
        extension_window=config.extension_window_seconds,
        extension_max_failures=config.extension_max_failures,
        allow=tuple(ipaddress.ip_network(c, strict=False) for c in config.allow),
        max_sources=config.max_sources,
    )


# Reads one extension record (domain, extn), as the directory store does; raises
# DatabaseUnavailable when it cannot.
ReadExtension = Callable[[str, str], Awaitable[Extension | None]]


class Guard:
    """The guard, complete when constructed.

    ``store``: the shared ban table (None: bans kept here only, as in unit tests);
    ``read_extension``: how the guard re-reads a record whose lookup did not carry it (the
    directory's store; None: such attempts stay unchecked); ``registrations``: who is
    registered (a failure from a registered address is trusted); ``nft``: the optional
    nftables set.
    """

    def __init__(
        self,
        config: GuardConfig,
        metrics: GuardMetrics,
        *,
        store: BanStore | None = None,
        read_extension: ReadExtension | None = None,
        registrations: RegistrationView | None = None,
        nft: NftSet | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._clock = clock
        self.rules = Rules(settings_of(config))
        self.history = History(config.history_per_extension, config.history_extensions)
        # Queued items by source, in the order sources are served (round-robin).
        self._queues: OrderedDict[str, deque[_Lookup | Registered | AuthSeen]] = OrderedDict()
        self._queued = 0
        self._wake = asyncio.Event()
        # The bans in force, as the lookup path reads them: ip -> until, (ip, key) -> until.
        self._sources: dict[str, float] = {}
        self._limits: dict[tuple[str, str], float] = {}
        self._any = False
        self._known: dict[tuple[str, str], Ban] = {}
        # Widened IPv6 bans in force, and how many addresses of each prefix are banned.
        self._networks = 0
        self._in_prefix: dict[str, int] = {}
        self._since: float | None = None  # the database's clock at the last poll, less a margin
        # (until, ip, key) of each ban learned, soonest first: expiry without a scan of them all.
        self._expiry: list[tuple[float, str, str]] = []
        self.store = store
        self._read_extension = read_extension
        self._registrations = registrations
        self.nft = nft
        self._db_down = False
        self._listeners: list[Callable[[GuardEvent], None]] = []
        # A run of repeats renews its source's trust this often: well inside trusted_seconds.
        self._renew_seconds = min(_RENEW_SECONDS, config.trusted_seconds / 4)

    def subscribe(self, listener: Callable[[GuardEvent], None]) -> None:
        """Call ``listener`` (on the loop, never awaited) with every attempt recorded and every
        ban added, extended or ended, from now on (the operator console's stream)."""
        self._listeners.append(listener)

    def _publish(self, event: GuardEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the guard
                log.exception("guard listener failed")

    def _record(self, key: str, attempt: Attempt, proof: _Proof | None = None) -> None:
        self.history.add(key, attempt, proof)
        self._publish(Judged(key, attempt))

    # -- the lookup path (O(1), never waits) ----------------------------------------

    # The form fields the guard reads: the directory endpoint decodes them with its own.
    fields = FIELDS

    def refused(self, fields: Mapping[str, str], request: DirectoryRequest) -> str | None:
        if not self._any or not self.config.enforce:
            return None
        ip = canonical(fields.get("ip", ""))
        if ip is None:
            return None
        now = self._clock()
        if self._source_banned(ip, now):
            self.metrics.refused.labels("source").inc()
            return "banned"
        if self._limits:
            until = self._limits.get((ip, key_of(request.extn, request.domain)))
            if until is not None and until > now:
                self.metrics.refused.labels("extension").inc()
                return "limited"
        return None

    def _source_banned(self, ip: str, now: float) -> bool:
        """Whether a canonical address is banned, by itself or by its widened IPv6 prefix."""
        until = self._sources.get(ip)
        if until is None and self._networks and ":" in ip:
            until = self._sources.get(prefix_of(ip, self.config.ipv6_ban_prefix) or "")
        return until is not None and until > now

    def observe(
        self,
        fields: Mapping[str, str],
        request: DirectoryRequest,
        reason: str,
        realm_mismatch: str,
        extension: Extension | None = None,
    ) -> None:
        self._put(fields.get("ip", ""), _Lookup(self._clock(), fields, reason, realm_mismatch, extension))

    def on_delta(self, delta: Delta) -> None:
        """Subscribed to the registration state (guard/setup.py): queued like lookups."""
        if delta.seen is not None:
            self._put(delta.seen.ip, delta.seen)
        elif not (delta.replaced or delta.reconciled or delta.mirrored):  # a REGISTER seen here
            for registration in delta.upserted:
                self._put(registration.network_ip, Registered(delta.node, registration))

    def _put(self, ip: str, item: _Lookup | Registered | AuthSeen) -> None:
        source = source_of(ip, self.config.ipv6_ban_prefix)
        queue = self._queues.get(source)
        if self._queued >= self.config.queue_size or (
            queue is not None and len(queue) >= self.config.queue_per_source
        ):
            self.metrics.queue_dropped.inc()
            return
        if queue is None:
            queue = self._queues[source] = deque()
        queue.append(item)
        self._queued += 1
        self._wake.set()

    def _take(self) -> _Lookup | Registered | AuthSeen:
        """The next item: the first source's oldest; that source then waits behind the others."""
        source, queue = self._queues.popitem(last=False)
        item = queue.popleft()
        self._queued -= 1
        if queue:
            self._queues[source] = queue
        return item

    def queue_depth(self) -> int:
        return self._queued

    # -- the guard task -------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        """Judge everything queued (the task's loop body; tests and shutdown call it too)."""
        while self._queued:
            item = self._take()
            try:
                if isinstance(item, _Lookup):
                    if not self._repeat(item):
                        await self._lookup(item)
                elif isinstance(item, Registered):
                    await self._registered(item)
                else:
                    await self._auth_event(item)
            except Exception:  # one bad item must not stop the guard
                log.exception("guard could not judge an attempt")

    def _repeat(self, item: _Lookup) -> bool:
        """Count a right digest onto its extension's newest attempt when it repeats it: that
        attempt a right digest (it has a proof), born of a lookup less than
        guard.repeat_seconds before and not refused by FreeSWITCH since (History.annotate
        drops the proof); this form from the same source, node, user agent and user (_said),
        answered from the same record, its response right for the A1 and HA2 of the first.
        Such a lookup cannot change a decision (its source is trusted already; a success
        counts against nothing), so it costs one MD5 instead of an attempt judged and recorded;
        it is counted in the metrics as ever, and its source's trust (and the extension's
        place in the history) is renewed at most every _renew_seconds. Anything else (a
        wrong digest first of all) is judged the full way."""
        fields, extension = item.fields, item.extension
        if item.reason != "found" or item.realm_mismatch or extension is None:
            return False
        get = fields.get
        key = key_of(get("user", "").partition("@")[0], get("domain", ""))
        proof = self.history.proof(key)
        nonce = get("sip_auth_nonce", "")
        if (
            not isinstance(proof, _Proof)
            or proof.extension is not extension
            or item.at - proof.at > self.config.repeat_seconds
            or not nonce
            or _said(fields) != proof.said
            or UNREADABLE in fields
        ):
            return False
        expected = digest.response_of(
            proof.a1,
            proof.ha2,
            nonce=nonce,
            nc=get("sip_auth_nc", ""),
            cnonce=get("sip_auth_cnonce", ""),
            qop=get("sip_auth_qop", ""),
        )
        if not digest.responds(get("sip_auth_response", ""), expected):
            return False
        renew = item.at - proof.renewed >= self._renew_seconds
        self.history.repeat(key, item.at, renew=renew)
        if renew:
            proof.renewed = item.at
            self.rules.trust(proof.ip, item.at)
        proof.counted.inc()
        return True

    async def _lookup(self, item: _Lookup) -> None:
        form = attempt_of(item.fields)
        if form is None:
            return
        key = key_of(form.extn, form.domain)
        reason, detail = await self._classify(form, item)
        d = form.digest
        attempt = Attempt(
            item.at, form.node, form.ip, form.port, form.user_agent, d.username, d.realm, d.method,
            reason, "lookup", detail,
        )  # fmt: skip
        self._record(key, attempt, self._proof(item, form, reason) if reason in SUCCESSES else None)
        self.metrics.attempt(reason.value)
        await self._judge(form.ip, key, reason, form.user_agent, item.at)

    def _proof(self, item: _Lookup, form: FormAttempt, reason: Reason) -> _Proof | None:
        """What tells a repeat of this right digest (_repeat), when one may be counted onto it."""
        extension, d = item.extension, form.digest
        if (
            extension is None
            or item.realm_mismatch
            or d.qop not in ("", "auth")
            or self.config.repeat_seconds <= 0
        ):
            return None
        creds = credentials(extension)
        if creds is None:
            return None
        a1 = creds[1] if "@" in d.username else creds[0]
        return _Proof(
            _said(item.fields), extension, a1.lower(), digest.ha2_of(d.method, d.uri), item.at, form.ip,
            self.metrics.attempts_of(reason.value), item.at,
        )  # fmt: skip

    async def _classify(self, form: FormAttempt, item: _Lookup) -> tuple[Reason, str]:
        known = _REASON_OF_ANSWER.get(item.reason)
        if known is Reason.REALM_MISMATCH:
            return (
                known,
                f"realm {printable(form.digest.realm)!r}: directory.realm_mismatch=refuse answered not found",
            )
        if known is not None:
            return known, ""
        if "cidr" in item.reason:
            return Reason.OUTSIDE_CIDR, ""
        if item.reason not in ("found", "disabled") or self._read_extension is None:
            return Reason.UNCHECKED, f"answer: {item.reason}"
        extension = item.extension
        if extension is None:
            try:
                extension = await self._read_extension(form.domain, form.extn)
            except DatabaseUnavailable:
                return Reason.UNCHECKED, "database unavailable when the digest was checked"
        if extension is None:
            return Reason.UNKNOWN_USER, "deleted since the lookup"
        if item.reason == "disabled" or not extension.can_authenticate:
            if extension.deleted:
                return Reason.EXTENSION_DELETED, ""
            if extension.disabled:
                return Reason.EXTENSION_DISABLED, ""
            return Reason.OWNER_DISABLED, f"owner {printable(extension.user_login)!r}"
        creds = credentials(extension)
        if creds is None:
            return Reason.NO_CREDENTIAL, ""
        d = form.digest
        detail = ""
        if item.realm_mismatch == "password":
            a1 = digest.a1_of_password(d.username, d.realm, extension.password)
            detail = (
                f"realm {printable(d.realm)!r} is not the domain:"
                " directory.realm_mismatch=password sent the plaintext password"
            )
        else:
            a1 = creds[1] if "@" in d.username else creds[0]
        verdict = digest.check(d, a1)
        if verdict is None:
            return Reason.UNCHECKED, f"qop {printable(d.qop)!r}"
        if not verdict:
            return Reason.WRONG_PASSWORD, detail
        if outside_cidr(form.ip, extension.extn_cidr):
            # The answer carried auth-acl: sofia refuses a right digest from elsewhere (403).
            cidr = printable(extension.extn_cidr)
            return Reason.OUTSIDE_CIDR, f"{printable(form.ip)} is not in extn_cidr {cidr!r}"
        if d.method.upper() == "REGISTER":
            return Reason.REGISTERED, detail
        return Reason.AUTHENTICATED, detail

    async def _registered(self, change: Registered) -> None:
        reg = change.registration
        now = self._clock()
        ip = canonical(reg.network_ip) or reg.network_ip
        self.rules.trust(ip, now)
        key = key_of(reg.reg_user.partition("@")[0], reg.realm)
        since = now - self.config.event_match_seconds
        if not self.history.annotate(key, ip, reg.network_port, since, "registered"):
            self._record(
                key,
                Attempt(
                    now, reg.hostname or change.node, ip, reg.network_port, reg.user_agent,
                    reg.reg_user, reg.realm, "REGISTER", Reason.REGISTERED, "event",
                ),
            )  # fmt: skip
            self.metrics.attempt(Reason.REGISTERED.value)

    async def _auth_event(self, seen: AuthSeen) -> None:
        now = self._clock()
        ip = canonical(seen.ip) or seen.ip
        key = key_of(seen.user.partition("@")[0], seen.domain)
        since = now - self.config.event_match_seconds
        word = "refused" if seen.refused else "accepted"
        matched = self.history.annotate(key, ip, seen.port, since, word)
        if not seen.refused:
            self.rules.trust(ip, now)
            return
        if matched or seen.kind != "register_attempt":
            return  # bridge answered that one (and counted it), or it is the failure's echo
        reason = Reason.REFUSED_BY_FREESWITCH
        attempt = Attempt(
            now, seen.node, ip, seen.port, seen.user_agent, seen.user, seen.domain, "",
            reason, "event", "", "refused",
        )  # fmt: skip
        self._record(key, attempt)
        self.metrics.attempt(reason.value)
        await self._judge(ip, key, reason, seen.user_agent, now)

    async def _judge(self, ip: str, key: str, reason: Reason, user_agent: str, now: float) -> None:
        if reason in SUCCESSES:
            self.rules.trust(ip, now)
            return
        if reason not in FAILURES:
            return
        if not self.rules.is_trusted(ip, now) and self._registered_from(ip):
            self.rules.trust(ip, now)
        if self.rules.is_trusted(ip, now):
            self.metrics.trusted_failures.inc()
        verdict = self.rules.failure(ip, key, reason, user_agent, now)
        if verdict is not None:
            await self._ban(verdict)

    def _registered_from(self, ip: str) -> bool:
        """Whether an address has a live binding (any node): the state keeps a count per
        address, so this no longer walks every binding held (500,000 at scale)."""
        view = self._registrations
        return view is not None and view.registered_from(ip)

    # -- bans -----------------------------------------------------------------------

    async def _ban(self, verdict: Verdict) -> None:
        ip = canonical(verdict.ip)
        if ip is None:
            return  # not an address (a forged form): nothing a firewall or a log line could use
        if not verdict.key and self._source_banned(ip, self._clock()):
            return  # judged from the queue after its address or prefix was banned: nothing new
        await self._write_ban(ip, verdict.key, verdict.rule)

    async def _write_ban(self, ip: str, key: str, rule: str) -> None:
        if self.store is None:
            return
        try:
            ban = await self.store.ban(ip, key, rule)
        except DatabaseUnavailable:
            self.metrics.sync_errors.inc()
            # Enforced here for the base time even while the shared table cannot be written.
            now = self._clock()
            ban = Ban(ip, key, rule, 1, now, now + self.config.ban_seconds)
        if ban is None:
            return  # banned already (another instance): the next poll brings it here
        self.metrics.bans_made.labels("extension" if ban.key else "source", ban.rule).inc()
        await self._learn(ban)
        if not ban.key:
            await self._widen(ban.ip)
        await self._bound()

    async def _widen(self, ip: str) -> None:
        """Ban the IPv6 prefix of ``ip`` once guard.ipv6_widen_after of its addresses are banned."""
        prefix = prefix_of(ip, self.config.ipv6_ban_prefix)
        if prefix is None or self.config.ipv6_widen_after < 1 or self.config.ipv6_ban_prefix >= 128:
            return
        if self._in_prefix.get(prefix, 0) < self.config.ipv6_widen_after or (prefix, "") in self._known:
            return
        if self.rules.overlaps_allowed(prefix):
            return  # guard.allow wins: a prefix holding an allowed address is never banned whole
        await self._write_ban(prefix, "", "ipv6_prefix")

    async def _bound(self) -> None:
        """At most guard.max_bans in force: end the soonest-ending ones early (everywhere)."""
        keep = self.config.max_bans
        if len(self._known) <= keep:
            return
        now = self._clock()
        over = [b for b in self._known.values() if b.until > now]
        if len(over) <= keep:
            return
        over.sort(key=lambda b: (b.until, b.banned_at))
        # The shared table decides (every instance then forgets them at its next poll); when it
        # cannot be asked, this instance's memory is bounded alone. A table that evicts nothing
        # has been bounded already: this memory is a poll behind.
        evicted = over[: len(over) - keep]
        if self.store is not None:
            try:
                evicted = await self.store.evict(keep)
            except DatabaseUnavailable:
                self.metrics.sync_errors.inc()
        for ban in evicted:
            await self._forget(ban, "evicted")
        self.metrics.bans_evicted.inc(len(evicted))

    async def _learn(self, ban: Ban) -> None:
        if self.rules.is_allowed(ban.ip):
            return  # guard.allow wins, even over a ban made before the address was allowed
        slot = (ban.ip, ban.key)
        old = self._known.get(slot)
        self._known[slot] = ban
        if ban.key:
            self._limits[slot] = ban.until
        else:
            self._sources[ban.ip] = ban.until
            if old is None:
                self._count_source(ban.ip, 1)
        self._any = True
        if old is not None and old.until == ban.until:
            return
        heapq.heappush(self._expiry, (ban.until, ban.ip, ban.key))
        if len(self._expiry) > 2 * len(self._known) + 1000:  # stale entries (lifted, extended): rebuild
            self._expiry = [(b.until, b.ip, b.key) for b in self._known.values()]
            heapq.heapify(self._expiry)
        self._publish(BanChanged(ban, lifted=False))
        seconds = max(0, round(ban.until - self._clock()))
        if ban.key:
            log.warning(
                "guard limit extension=%s ip=%s seconds=%d rule=%s offences=%d",
                printable(ban.key), ban.ip, seconds, ban.rule, ban.offences,
            )  # fmt: skip
        else:
            # The fixed format deploy/fail2ban/filter.d/bridge-guard.conf matches: keep in step.
            log.warning(
                "guard ban ip=%s seconds=%d rule=%s offences=%d", ban.ip, seconds, ban.rule, ban.offences
            )
            if self.nft is not None:
                await self.nft.add(ban.ip, seconds)

    async def _forget(self, ban: Ban, why: str) -> None:
        slot = (ban.ip, ban.key)
        if self._known.pop(slot, None) is None:
            return
        self._publish(BanChanged(ban, lifted=True))
        if ban.key:
            self._limits.pop(slot, None)
            log.info("guard unlimit extension=%s ip=%s reason=%s", printable(ban.key), ban.ip, why)
        else:
            self._sources.pop(ban.ip, None)
            self._count_source(ban.ip, -1)
            log.info("guard unban ip=%s reason=%s", ban.ip, why)
            if self.nft is not None:
                await self.nft.delete(ban.ip)
        self._any = bool(self._sources or self._limits)

    def _count_source(self, ip: str, step: int) -> None:
        if is_network(ip):
            self._networks += step
            return
        prefix = prefix_of(ip, self.config.ipv6_ban_prefix)
        if prefix is not None:
            count = self._in_prefix.get(prefix, 0) + step
            if count > 0:
                self._in_prefix[prefix] = count
            else:
                self._in_prefix.pop(prefix, None)

    def bans(self) -> list[Ban]:
        now = self._clock()
        return sorted((b for b in self._known.values() if b.until > now), key=lambda b: (b.banned_at, b.ip))

    def page(self, offset: int, limit: int) -> tuple[int, list[Ban]]:
        """How many bans are in force, and ``limit`` of them from ``offset``, oldest first,
        without sorting them all (GET /api/guard/bans with guard.max_bans in force)."""
        now = self._clock()
        active = [b for b in self._known.values() if b.until > now]
        first = heapq.nsmallest(offset + limit, active, key=lambda b: (b.banned_at, b.ip))
        return len(active), first[offset:]

    def active_counts(self) -> dict[str, int]:
        """Bans held, by scope, read at each scrape in O(1): an expired one until the next poll."""
        return {"source": len(self._sources), "extension": len(self._limits)}

    async def sync(self) -> None:
        """Read what changed in the shared table since the last read: learn new and extended
        bans (any instance's), forget lifted and evicted ones; forget expired ones here."""
        now = self._clock()
        if self.store is not None:
            try:
                changed, read_at = await self.store.changed(self._since)
            except DatabaseUnavailable:
                self.metrics.sync_errors.inc()
                if not self._db_down:
                    log.warning("guard cannot read the ban table: keeping the bans it has")
                self._db_down = True
            else:
                self._db_down = False
                self._since = read_at - CHANGE_MARGIN
                for ban in changed:
                    if ban.until > read_at:
                        await self._learn(ban)
                        if not ban.key:
                            await self._widen(ban.ip)
                    elif (ban.ip, ban.key) in self._known:
                        await self._forget(ban, _ended(ban))
                await self._bound()
        while self._expiry and self._expiry[0][0] <= now:
            _, ip, key = heapq.heappop(self._expiry)
            due = self._known.get((ip, key))
            if due is not None and due.until <= now:  # else lifted already, or extended since
                await self._forget(due, "expired")

    async def lift(self, ip: str, by: str) -> list[Ban]:
        """Unban ``ip`` everywhere (the shared table), forgive its counts, forget it here now."""
        lifted = await self.store.lift(ip, by) if self.store is not None else []
        for ban in [b for b in self._known.values() if b.ip == ip]:
            await self._forget(ban, "lifted")
        self.rules.forgive(ip)
        if lifted:
            log.info("guard bans lifted ip=%s by=%s count=%d", ip, printable(by), len(lifted))
        return lifted

    def sizes(self) -> dict[str, int]:
        return {"history": len(self.history), "attempts": self.history.attempts(), **self.rules.sizes()}
