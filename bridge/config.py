"""Configuration: frozen dataclasses built once, from flags > environment > TOML > defaults.

Every setting has one name in three spellings:

    TOML            [directory] realm_mismatch = "refuse"
    environment     BRIDGE_DIRECTORY_REALM_MISMATCH=refuse
    flag            --set directory.realm_mismatch=refuse   (host/port/config have own flags)

Two environment names are kept short because operators know them: ``DATABASE_URL``
(= ``database.url``) and ``BRIDGE_FREESWITCH`` (= ``freeswitch.nodes``, comma-separated
``esl://[name@]:password@host:port`` URLs).

The environment rule: a ``BRIDGE_*`` variable is a setting only when it is one's exact
name. ``BRIDGE_CONFIG`` (the TOML file) and ``BRIDGE_API_TOKEN`` (``bridge why``'s token)
are read elsewhere. Any other ``BRIDGE_*`` is ignored, unless it is a near miss of a known
name (``BRIDGE_HTTP_PROT``): that is refused, naming the variable it resembles, since a
misspelt setting silently ignored is a setting that silently does not apply.

Every value is checked when the Config is built (``_check``): a bad one is a ConfigError
naming the setting, before anything starts. Numbers are finite and never negative; the
ones in ``_AT_LEAST_ONE`` (counts) and ``_ABOVE_ZERO`` (seconds) must be more than zero.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from bridge.addresses import address_of
from bridge.errors import ConfigError

RealmMismatch = Literal["refuse", "password"]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Requests larger than this are refused with 413 before they are parsed.
    # mod_xml_curl's largest real form (an INVITE sip_auth) is ~1.5 KiB.
    max_body_bytes: int = 64 * 1024
    # Seconds a graceful shutdown (SIGTERM, SIGINT) takes at most: requests in flight get
    # drain_timeout of it, stopping the jobs (writes flushed, pool closed) the rest.
    shutdown_timeout: float = 10.0
    # Seconds a connection may take to send a complete request head, from its opening or
    # its previous response (aiohttp's keep-alive timer: also the idle keep-alive limit).
    header_timeout: float = 5.0
    # Seconds a request may take to send its body once its head is in (then 408).
    body_timeout: float = 5.0

    @property
    def drain_timeout(self) -> float:
        """The part of shutdown_timeout requests in flight get (their database statements
        are cut then); the rest is for stopping the jobs. Derived, not a setting."""
        return self.shutdown_timeout * 0.6


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    # None: start the embedded PostgreSQL under state_dir/pgdata.
    url: str | None = None
    pool_min: int = 2
    pool_max: int = 10
    # Upper bound on one query on a request path (directory, API), in seconds.
    query_timeout: float = 0.5
    # Apply sql/ at start-up. Always done for the embedded server; opt-in for an external one.
    auto_upgrade: bool = False
    # Port of the embedded server (0: pick a free one and remember it in state_dir).
    embedded_port: int = 0
    # Seconds between checks that the embedded server still runs (then restarted, with backoff).
    embedded_check_interval: float = 1.0
    # Most seconds between two restart attempts of an embedded server that keeps failing.
    embedded_restart_backoff_max: float = 30.0

    @property
    def connect_timeout(self) -> float:
        """Bound on what needs a new connection (pool start, LISTEN, a transaction of many
        statements): a few queries' worth, never under 2 s. Derived, not a setting."""
        return max(self.query_timeout * 4, 2.0)


@dataclass(frozen=True, slots=True)
class DirectoryConfig:
    # HTTP basic credentials FreeSWITCH must send (xml_curl.conf.xml gateway-credentials).
    # Both empty: no credentials asked.
    username: str = ""
    password: str = ""
    # Source addresses (CIDRs) allowed to POST /directory. Empty: loopback only, unless
    # username/password are set (then any address with them). ["0.0.0.0/0", "::/0"]: any
    # address (docs/directory-hardening.md). A non-loopback http.host needs one of these set.
    allow_from: tuple[str, ...] = ()
    # When the digest realm is not the extension's domain a stored hash cannot match:
    # "refuse" answers not-found, "password" sends the plaintext password instead.
    realm_mismatch: RealmMismatch = "refuse"
    # Send the plaintext password (param "password") beside a1-hash in sip_auth answers.
    send_password: bool = False
    # Mark users cacheable in FreeSWITCH's own user cache for this many milliseconds
    # (0: off). Each change is then flushed (xml_flush_cache) on the nodes, docs/freeswitch-cache.md.
    fs_cacheable_ms: int = 0
    # In-process cache of directory records: at most this many entries.
    cache_size: int = 200_000
    # Seconds a "not found" stays cached.
    negative_ttl: float = 2.0
    # Rendered per-user answers kept in memory (directory/answers.py), at most this many
    # (~3 KiB each). One entry per user and lookup variant; 0 renders every answer.
    answer_cache_size: int = 20_000
    # Warm start: after start-up and each resync, load the directory into the cache in the
    # background, this many rows per statement (directory/store/warmup.py); false: off.
    warmup: bool = True
    warmup_page_size: int = 500
    # Longest user, domain, realm or group a form may carry; longer: 400 before any query.
    max_value_chars: int = 255
    # extn_cidr restricts where a phone may register from (auth-acl). Also putting it in
    # the "domains" network list, which FreeSWITCH's apply-inbound-acl trusts WITHOUT a
    # password, is this explicit opt-in (docs/directory-hardening.md).
    trust_extn_cidr: bool = False
    # Whole-directory answers (list_users, network-list, group_call, ...: whole.py): built
    # at most this many at once, at most this many more waiting (beyond: 503), and this
    # many users decided or rendered between two turns of the event loop.
    whole_max_building: int = 1
    whole_max_waiting: int = 16
    whole_slice_users: int = 100


@dataclass(frozen=True, slots=True)
class FreeSwitchNode:
    name: str
    host: str
    port: int
    password: str

    @classmethod
    def from_url(cls, url: str, name: str = "") -> FreeSwitchNode:
        """Parse ``esl://[name@]:password@host:port`` (the user part, when present, is the name)."""
        parts = urlsplit(url.strip())
        if parts.scheme != "esl" or not parts.hostname:
            raise ConfigError(f"freeswitch node must look like esl://:password@host:port: {url!r}")
        host = parts.hostname
        try:
            port = parts.port or 8021
        except ValueError as exc:
            raise ConfigError(f"freeswitch node has a bad port: {url!r}") from exc
        password = unquote(parts.password or "ClueCon")
        node_name = name or unquote(parts.username or "") or f"{host}:{port}"
        return cls(name=node_name, host=host, port=port, password=password)

    def __repr__(self) -> str:  # never print the password
        return f"FreeSwitchNode(name={self.name!r}, host={self.host!r}, port={self.port})"


@dataclass(frozen=True, slots=True)
class FreeSwitchConfig:
    nodes: tuple[FreeSwitchNode, ...] = ()
    # Seconds without a HEARTBEAT (FreeSWITCH sends one every 20 s) before a node is dead.
    heartbeat_timeout: float = 60.0
    # Reconnect backoff: first delay and cap, seconds; each delay is jittered.
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    # Seconds a command sent to a node (api, xml_flush_cache) may take.
    command_timeout: float = 5.0
    # Seconds a node lease lasts without renewal; another instance takes over after it.
    lease_ttl: float = 10.0
    # Seconds between registration write-behind batches, and between standby re-reads.
    sync_interval: float = 1.0
    # The standby mirror reads only rows changed since its last read (persist.py): seconds
    # a deleted binding's record is kept for it (a mirror behind by more reads the node
    # whole), and rows per statement of a mirror read (the loop runs between pages).
    removals_kept: float = 300.0
    mirror_page_rows: int = 2000
    # Names of nodes whose sofia profiles set multiple-registrations (elsewhere a new
    # REGISTER replaces the user's binding); sofia's late margin added to every expiry.
    multiple_registrations: tuple[str, ...] = ()
    expires_late_margin: int = 60
    # Seconds after a node's snapshot before bindings are reconciled with sofia's own
    # listing (the core table behind the snapshot lags sofia), and between reconciles
    # afterwards (0: only the one after each connect).
    reconcile_delay: float = 5.0
    reconcile_interval: float = 300.0
    # What a node may send (sanitize.py): expiry at most this many seconds ahead (longer
    # ones are clamped), characters per binding field, bindings held per node (more are
    # refused, counted and logged), seconds a node must stay up before the reconnect
    # backoff starts again from reconnect_initial.
    max_expires: int = 7 * 86400
    max_binding_field: int = 512
    max_bindings_per_node: int = 100_000
    reconnect_healthy_after: float = 30.0
    # Bytes one Event Socket frame may have: sofia's listing of a profile is one frame
    # (about 700 bytes per binding, 70 MB for 100,000).
    max_frame_bytes: int = 128 * 1024 * 1024
    # Who follows a node is a PostgreSQL session advisory lock per node, held on one
    # connection of its own (locks.py). Seconds between an instance's tries to take the
    # nodes it does not follow (a killed follower's lock is free at once); seconds the
    # follower may go without a confirmed round trip on that connection before it stops
    # following (must stay below lock_idle_timeout); seconds of silence after which
    # PostgreSQL ends the lock session and frees its locks (idle_session_timeout, and the
    # TCP keepalive idle: a frozen process, a lost machine or network), and the keepalive
    # probes (seconds between, count) for a peer that vanished mid-reply.
    takeover_interval: float = 0.2
    # Nodes one try may take at most; and none while a node taken earlier is still loading
    # (connecting, its snapshot not yet applied): an instance that finds 50
    # big nodes free (a site's first start) takes them a few at a time, not all at once.
    takes_per_try: int = 8
    lock_timeout: float = 2.0
    lock_idle_timeout: int = 5
    lock_keepalive_interval: int = 1
    lock_keepalive_count: int = 3
    # Spread the nodes over the instances: each takes at most its share (nodes / instances,
    # rounded up) and gives surplus nodes up one at a time for another to take.
    spread: bool = True
    # Seconds a node's Event-Date may differ from bridge's clock before it is reported.
    clock_skew_limit: float = 60.0


@dataclass(frozen=True, slots=True)
class ApiConfig:
    # Seconds a login token lives after its last use.
    token_ttl: float = 24 * 3600.0
    # Failed logins before an account is locked (XUI: "超过 5 次后会锁定").
    max_login_attempts: int = 5
    # Rows one bulk provisioning request may create, change or delete (muti_add ranges,
    # bulk deletes, PUT /api/extensions); larger requests are refused whole with 400.
    max_bulk_rows: int = 10_000
    # Characters one provisioned text field (name, login, context, ...) may hold.
    max_field_chars: int = 255
    # Seconds one provisioning transaction may take (a 10,000-row muti_add takes ~1 s).
    write_timeout: float = 30.0

    # Seconds a lock lasts (and failed attempts are remembered) after the last counted
    # attempt; 0: until an operator unlocks (XUI's behaviour). Never affects SIP.
    lock_seconds: float = 900.0
    # Failed logins and dev-key requests one source address (IPv6: its /64) may make per
    # source_window seconds, counted before any account is looked at; then 429.
    max_source_failures: int = 20
    source_window: float = 900.0
    # Sources (addresses, IPv6 /64s) that must each reach max_login_attempts on one account
    # before it is locked for everyone; until then only those sources are refused it, so
    # one address cannot keep the owner out. 0: never lock an account for everyone.
    lock_sources: int = 3
    # What a developer key made from an extension's SIP credentials (POST /api/users/dev_keys
    # with username/password/domain) may do: "extension" (read that extension's record,
    # registrations and guard attempts) or "owner" (XUI's behaviour: everything its owning
    # user may, so a phone's SIP password opens its owner's web rights).
    sip_credential_keys: Literal["extension", "owner"] = "extension"
    # What GET /api/... report for an extension not seen registered while its status is
    # not known (a node down or syncing, or no FreeSWITCH configured): "unknown" (honest)
    # or "offline" (for clients that know only the document's online/offline).
    unknown_status: Literal["unknown", "offline"] = "unknown"
    # Mark the session cookie Secure (sent over https only): set it when bridge is reached
    # through an https proxy. The cookie is always HttpOnly and SameSite=Strict.
    cookie_secure: bool = False


# User agents scanners are commonly seen with (substrings, case-insensitive): SIPVicious
# (friendly-scanner is its default), sipcli, the VaxSIPUserAgent SDK, sundayddr, iWar,
# SIVuS, sip-scan, smap, siparmyknife, pplsip.
SCANNER_AGENTS = (
    "friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "vaxipuseragent",
    "sundayddr", "iwar", "sivus", "sip-scan", "smap", "siparmyknife", "pplsip",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GuardConfig:
    """The registration guard (docs/guard.md): history, rules, bans."""

    enabled: bool = True
    # Answer a banned source's lookups "not found" at once (off: bans are only logged,
    # counted and sent to nftables).
    enforce: bool = True
    # CIDRs never banned nor limited.
    allow: tuple[str, ...] = ()
    # A source is banned after more than max_failures failures, or more than
    # max_unknown_users different unknown users, within window_seconds of its first one.
    window_seconds: float = 60.0
    max_failures: int = 30
    max_unknown_users: int = 10
    # One failure with one of these user agents (substrings, any case) bans the source.
    scanner_agents: tuple[str, ...] = SCANNER_AGENTS
    # A source a phone authenticated (or registered) from this recently is never banned;
    # an extension failing from it more than extension_max_failures times within
    # extension_window_seconds is limited instead (that extension from that source).
    trusted_seconds: float = 7200.0
    extension_window_seconds: float = 600.0
    extension_max_failures: int = 20
    # The n-th ban of a source lasts ban_seconds * ban_growth**(n-1), at most ban_max_seconds;
    # offences are forgotten forget_seconds after the last ban ended.
    ban_seconds: float = 600.0
    ban_growth: float = 4.0
    ban_max_seconds: float = 7 * 24 * 3600.0
    forget_seconds: float = 30 * 24 * 3600.0
    # Seconds between reads of the shared ban table (how soon another instance's ban applies).
    poll_seconds: float = 1.0
    # Lookups and events waiting for the guard's task; beyond this they are dropped (counted).
    queue_size: int = 10_000
    # Attempts kept per extension, extensions kept, sources (and trusted sources) counted.
    history_per_extension: int = 20
    history_extensions: int = 10_000
    max_sources: int = 100_000
    # An event is the same attempt as a lookup from the same address and port this recent.
    event_match_seconds: float = 5.0
    # A right digest repeating its extension's last attempt (same source, a success) within
    # this many seconds of it is counted onto that attempt, not judged and recorded again
    # (docs/guard.md); 0: every lookup recorded.
    repeat_seconds: float = 3600.0
    # nftables set kept in step with source bans: "FAMILY TABLE SET" (e.g. "inet bridge
    # guard"), "" for off; and the command run (bridge needs CAP_NET_ADMIN for it).
    nft_set: str = ""
    nft_command: str = "nft"
    # Bans in force at most (sources and limited extensions, every instance's): beyond it
    # the ban ending soonest is ended early (counted: bridge_guard_bans_evicted_total).
    max_bans: int = 50_000
    # Once ipv6_widen_after addresses of one IPv6 /ipv6_ban_prefix are banned, the whole
    # prefix is banned (one row, one nftables element); 0: never widen.
    ipv6_ban_prefix: int = 64
    ipv6_widen_after: int = 3
    # Lookups and events queued per source (an IPv4 address or an IPv6 /ipv6_ban_prefix);
    # the queue is served round-robin by source, so one source's flood cannot crowd
    # out another's attempts (beyond: dropped, counted).
    queue_per_source: int = 100


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """The operator console at /console/ and its event stream GET /api/events (docs/console.md)."""

    enabled: bool = True
    # Messages one stream client may have waiting; a client that falls further behind is cut
    # (bridge_console_stream_cut_total) and resumes or reloads when it reconnects.
    queue_size: int = 2_000
    # Recent messages kept for clients that reconnect with Last-Event-ID.
    ring_size: int = 10_000
    # Stream clients at once; more get 503.
    max_clients: int = 50
    # Seconds between keep-alive comments on an idle stream.
    keepalive_seconds: float = 15.0
    # Latest failed attempts kept for the Attempts view.
    attempts_kept: int = 500
    # Seconds between looks at the nodes' states (a change is streamed as a "node" message).
    node_poll_seconds: float = 0.25


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    http: HttpConfig = field(default_factory=HttpConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    directory: DirectoryConfig = field(default_factory=DirectoryConfig)
    freeswitch: FreeSwitchConfig = field(default_factory=FreeSwitchConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    # Where the embedded PostgreSQL and other local state live.
    state_dir: Path = Path(".state")

    def __post_init__(self) -> None:
        for cidr in self.directory.allow_from:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ConfigError(f"directory.allow_from: not a CIDR: {cidr!r}") from exc
        _check_directory_reach(self.http, self.directory)
        if not 0 <= self.guard.ipv6_ban_prefix <= 128 or self.guard.ipv6_widen_after < 0:
            raise ConfigError("guard.ipv6_ban_prefix must be 0..128 and guard.ipv6_widen_after >= 0")
        if self.guard.max_bans < 1 or self.guard.queue_per_source < 1:
            raise ConfigError("guard.max_bans and guard.queue_per_source must be at least 1")
        for cidr in self.guard.allow:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ConfigError(f"guard.allow: not a CIDR: {cidr!r}") from exc
        if self.guard.nft_set and len(self.guard.nft_set.split()) != 3:
            raise ConfigError("guard.nft_set must be 'FAMILY TABLE SET' ('inet bridge_guard banned') or ''")
        if self.directory.realm_mismatch not in ("refuse", "password"):
            raise ConfigError("directory.realm_mismatch must be 'refuse' or 'password'")
        names = [node.name for node in self.freeswitch.nodes]
        if len(names) != len(set(names)):
            raise ConfigError(f"freeswitch node names must be unique: {names}")
        _check(self)
        fs = self.freeswitch
        if fs.lock_timeout + fs.takeover_interval >= fs.lock_idle_timeout:
            # The follower must give a node up before PostgreSQL can free its lock.
            raise ConfigError(
                "freeswitch.lock_timeout + freeswitch.takeover_interval must be below"
                f" freeswitch.lock_idle_timeout ({fs.lock_timeout} + {fs.takeover_interval}"
                f" >= {fs.lock_idle_timeout})"
            )


# Counts that must be at least 1, and seconds that must be more than 0; every other number
# must be at least 0 (0 means "off" or "none" where the setting says so).
_AT_LEAST_ONE = {
    "http.max_body_bytes", "database.pool_max", "directory.warmup_page_size",
    "directory.max_value_chars", "directory.whole_max_building", "directory.whole_slice_users",
    "freeswitch.max_expires", "freeswitch.max_binding_field", "freeswitch.max_bindings_per_node",
    "freeswitch.max_frame_bytes", "api.max_login_attempts", "api.max_bulk_rows",
    "api.max_field_chars", "api.max_source_failures", "guard.queue_size",
    "guard.history_per_extension", "guard.history_extensions", "guard.max_sources",
    "guard.max_bans", "guard.ipv6_ban_prefix", "guard.ipv6_widen_after", "guard.queue_per_source",
    "freeswitch.lock_keepalive_count", "freeswitch.lock_idle_timeout",
    "freeswitch.lock_keepalive_interval", "console.queue_size", "console.ring_size",
    "console.max_clients", "console.attempts_kept", "freeswitch.mirror_page_rows",
    "freeswitch.takes_per_try",
}  # fmt: skip
_ABOVE_ZERO = {
    "http.header_timeout", "http.body_timeout", "database.query_timeout",
    "database.embedded_check_interval", "database.embedded_restart_backoff_max",
    "freeswitch.heartbeat_timeout", "freeswitch.reconnect_initial", "freeswitch.reconnect_max",
    "freeswitch.command_timeout", "freeswitch.lease_ttl", "freeswitch.sync_interval",
    "api.token_ttl", "api.write_timeout", "api.source_window", "guard.window_seconds",
    "guard.extension_window_seconds", "guard.ban_seconds", "guard.ban_max_seconds",
    "guard.poll_seconds", "freeswitch.takeover_interval", "freeswitch.lock_timeout",
    "freeswitch.clock_skew_limit", "console.keepalive_seconds", "console.node_poll_seconds",
    "freeswitch.removals_kept",
}  # fmt: skip
_PORTS = {"http.port", "database.embedded_port"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check(config: Config) -> None:
    """Refuse, naming the setting, every value that cannot work (the rules above)."""
    for section in dataclasses.fields(config):
        values = getattr(config, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        for item in dataclasses.fields(values):
            name = f"{section.name}.{item.name}"
            value = getattr(values, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number: {value!r}")
            if name in _PORTS and not 0 <= value <= 65535:
                raise ConfigError(f"{name} must be a port, 0 to 65535: {value!r}")
            if name in _AT_LEAST_ONE and value < 1:
                raise ConfigError(f"{name} must be at least 1: {value!r}")
            if name in _ABOVE_ZERO and value <= 0:
                raise ConfigError(f"{name} must be more than 0: {value!r}")
            if value < 0:
                raise ConfigError(f"{name} must not be negative: {value!r}")
    if config.database.pool_min > config.database.pool_max:
        raise ConfigError(
            f"database.pool_min ({config.database.pool_min}) must not exceed"
            f" database.pool_max ({config.database.pool_max})"
        )
    if config.guard.ban_growth < 1:
        raise ConfigError(f"guard.ban_growth must be at least 1: {config.guard.ban_growth!r}")
    if config.log.level.upper() not in _LOG_LEVELS:
        raise ConfigError(f"log.level must be one of {', '.join(_LOG_LEVELS)}: {config.log.level!r}")
    if config.database.url is not None:
        _check_dsn(config.database.url)


def _check_dsn(url: str) -> None:
    """database.url must be a URL asyncpg reads; the message never repeats it (a password)."""
    where = "database.url (DATABASE_URL)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise ConfigError(f"{where} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigError(f"{where} must look like postgresql://user:password@host:port/database")


def is_loopback_host(host: str) -> bool:
    """Whether a listen address reaches only this host (``localhost``, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    address = address_of(host.strip("[]"))
    return address is not None and address.is_loopback  # a name ("" and "::" too): any interface


def _check_directory_reach(http: HttpConfig, directory: DirectoryConfig) -> None:
    """The directory holds every a1-hash: bound beyond loopback, it must say who may ask."""
    if is_loopback_host(http.host) or directory.allow_from or directory.username or directory.password:
        return
    raise ConfigError(
        f"http.host={http.host!r} would serve /directory (every extension's credentials) to any"
        " address: set directory.allow_from to FreeSWITCH's addresses and/or directory.username"
        ' and directory.password (allow_from = ["0.0.0.0/0", "::/0"] serves it to anyone)'
    )


def load_config(
    *,
    toml_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Config:
    """Build the Config: ``overrides`` ("section.key" -> text) > ``environ`` > TOML > defaults."""
    merged: dict[str, dict[str, Any]] = {}
    if toml_path is not None:
        try:
            with toml_path.open("rb") as handle:
                document = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {toml_path}: {exc}") from exc
        for section, values in document.items():
            if isinstance(values, dict):
                merged.setdefault(section, {}).update(values)
            else:
                merged.setdefault("", {})[section] = values
    for dotted, text in _from_environ(environ or {}).items():
        _put(merged, dotted, text)
    for dotted, text in (overrides or {}).items():
        _put(merged, dotted, text)
    return _build(merged)


# BRIDGE_* names bridge reads that are not settings (the module docstring's rule).
NOT_SETTINGS = ("BRIDGE_CONFIG", "BRIDGE_API_TOKEN")


def environment_names() -> dict[str, str]:
    """Each setting's environment name -> its dotted name (BRIDGE_HTTP_PORT -> http.port)."""
    names = {"DATABASE_URL": "database.url", "BRIDGE_FREESWITCH": "freeswitch.nodes"}
    for section in dataclasses.fields(Config):
        if section.name == "state_dir":
            names["BRIDGE_STATE_DIR"] = "state_dir"
            continue
        for item in dataclasses.fields(typing.get_type_hints(Config)[section.name]):
            names[f"BRIDGE_{section.name}_{item.name}".upper()] = f"{section.name}.{item.name}"
    return names


def _from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    known = environment_names()
    found: dict[str, str] = {}
    for key, value in environ.items():
        if key in known:
            if value or key not in ("DATABASE_URL", "BRIDGE_FREESWITCH", "BRIDGE_STATE_DIR"):
                found[known[key]] = value
        elif key.startswith("BRIDGE_") and key not in NOT_SETTINGS:
            near = difflib.get_close_matches(key, [*known, *NOT_SETTINGS], n=1, cutoff=0.88)
            if near:
                raise ConfigError(f"unknown environment variable {key} (did you mean {near[0]}?)")
    return found


def _put(merged: dict[str, dict[str, Any]], dotted: str, value: Any) -> None:
    section, _, name = dotted.partition(".")
    if not name:
        merged.setdefault("", {})[section] = value
    else:
        merged.setdefault(section, {})[name] = value


def _build(merged: dict[str, dict[str, Any]]) -> Config:
    top = merged.pop("", {})
    kwargs: dict[str, Any] = {}
    section_types = {f.name: f.type for f in dataclasses.fields(Config)}
    hints = typing.get_type_hints(Config)
    for section, values in merged.items():
        if section not in section_types or section == "state_dir":
            raise ConfigError(f"unknown config section [{section}]")
        kwargs[section] = _build_section(hints[section], section, values)
    for key, value in top.items():
        if key != "state_dir":
            raise ConfigError(f"unknown top-level config key {key!r}")
        kwargs["state_dir"] = Path(str(value))
    return Config(**kwargs)


def _build_section(cls: type[Any], section: str, values: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown config key {section}.{key}")
        if cls is FreeSwitchConfig and key == "nodes":
            kwargs[key] = _parse_nodes(value)
            continue
        kwargs[key] = _coerce(hints[key], value, f"{section}.{key}")
    return cls(**kwargs)


def _parse_nodes(value: Any) -> tuple[FreeSwitchNode, ...]:
    """Nodes from "esl://…,esl://…" text or a TOML list of URLs / {url, name} tables."""
    if isinstance(value, str):
        return tuple(FreeSwitchNode.from_url(u) for u in value.split(",") if u.strip())
    nodes = []
    for item in value:
        if isinstance(item, str):
            nodes.append(FreeSwitchNode.from_url(item))
        elif isinstance(item, dict) and "url" in item:
            nodes.append(FreeSwitchNode.from_url(str(item["url"]), str(item.get("name", ""))))
        else:
            raise ConfigError(f"freeswitch.nodes entries are URLs or {{url, name}}: {item!r}")
    return tuple(nodes)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None or (isinstance(value, str) and value == ""):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, args))}: {value!r}")
        return value
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(i).strip() for i in items if str(i).strip())
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
        if hint is Path:
            return Path(str(value))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read {value!r} as {getattr(hint, '__name__', hint)}") from exc
