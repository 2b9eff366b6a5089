"""Event Socket bytes -> typed changes: frame headers, event bodies, the snapshot (pure).

Nothing here does I/O or imports greenswitch, gevent, aiohttp or asyncpg; the listener
feeds it bytes and hands the changes it returns to the state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from bridge.registrations.model import NodeState, Registration

# HEARTBEAT is FreeSWITCH's 20 s liveness event; the rest are mod_sofia's registration
# subclasses (src/mod/endpoints/mod_sofia/mod_sofia.h, MY_EVENT_*). json, not plain: see
# parse_plain for why plain needs care.
SUBSCRIPTION = (
    "event json CUSTOM sofia::register sofia::unregister sofia::expire sofia::pre_register "
    "sofia::register_attempt sofia::register_failure HEARTBEAT"
)
SNAPSHOT_COMMAND = "api show registrations as json"

# Subclasses that change registration state; the other subscribed ones are only counted.
_STATE_KINDS = frozenset({"register", "unregister", "expire"})


_HEADER_NAME = re.compile(rb"[A-Za-z0-9_-]{1,64}")


class FrameError(ValueError):
    """Bytes that are not an Event Socket frame or event body."""


@dataclass(frozen=True, slots=True)
class Registered:
    """A REGISTER (or refresh) succeeded: the binding is live until ``registration.expires``."""

    node: str
    registration: Registration


@dataclass(frozen=True, slots=True)
class Unregistered:
    """One binding ended: ``kind`` is "unregister" (expires=0) or "expire" (sofia's sweep)."""

    node: str
    kind: str
    profile: str
    user: str
    realm: str
    call_id: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The node's whole binding table (``show registrations as json``): replaces what we had."""

    node: str
    registrations: tuple[Registration, ...]


@dataclass(frozen=True, slots=True)
class Mirrored:
    """Rows another bridge instance wrote for a node it follows, read since the last read
    (persist.py's mirror): each binding upserted or removed by token, as the follower
    already decided them (no replacement rule applied again), the others kept."""

    node: str
    upserted: tuple[Registration, ...]
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reconcile:
    """sofia's own listing of the node (every profile): bindings it lacks are removed,
    bindings it has that we lack are added; a binding both have is kept unless it differs."""

    node: str
    registrations: tuple[Registration, ...]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    node: str
    at: float


@dataclass(frozen=True, slots=True)
class NodeChanged:
    node: str
    state: NodeState
    at: float
    error: str = ""


@dataclass(frozen=True, slots=True)
class AuthSeen:
    """What FreeSWITCH decided about one authentication, from sofia::register_attempt or
    sofia::register_failure (read by the registration guard, bridge/guard/)."""

    node: str
    kind: str  # "register_attempt" or "register_failure"
    # The digest username (register_attempt's ``username``: 1001, 1001@domain, or "unknown"
    # when sofia refused before asking), else the To user.
    user: str
    domain: str
    ip: str
    port: str
    user_agent: str
    refused: bool  # auth-result FORBIDDEN, or a register_failure
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Observed:
    """An event that changes nothing but is counted (pre_register, attempts, failures)."""

    node: str
    kind: str
    failed: bool
    # register_attempt / register_failure: who, from where, and what FreeSWITCH decided.
    auth: AuthSeen | None = None


Change = Registered | Unregistered | Snapshot | Mirrored | Reconcile | Heartbeat | NodeChanged | Observed


def parse_frame_headers(block: bytes) -> dict[str, str]:
    """The header block of one frame (``Key: value`` lines, ``\\n`` endings), not decoded.

    FreeSWITCH does not URL-encode the outer frame headers (esl_event / mod_event_socket
    write them verbatim), so nothing is unquoted here.
    """
    headers: dict[str, str] = {}
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        key, sep, value = line.partition(b": ")
        if not sep:
            raise FrameError(f"header line without ': ' ({line[:40]!r})")
        if not _HEADER_NAME.fullmatch(key):
            # The rest of a frame whose Content-Length lied: the stream is out of step.
            raise FrameError(f"not a header name ({key[:40]!r})")
        headers[key.decode("latin-1")] = value.decode("utf-8", "replace")
    return headers


def content_length(headers: Mapping[str, str], limit: int = 64 * 1024 * 1024) -> int:
    text = headers.get("Content-Length")
    if text is None:
        return 0
    try:
        length = int(text)
    except ValueError as exc:
        raise FrameError(f"bad Content-Length {text[:20]!r}") from exc
    if length < 0 or length > limit:
        raise FrameError(f"Content-Length out of range: {length}")
    return length


def parse_json_body(body: bytes) -> dict[str, str]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"event body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise FrameError("event body is not a JSON object")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in document.items()}


def parse_plain_body(body: bytes) -> dict[str, str]:
    """A text/event-plain body: split into lines FIRST, then URL-decode each value.

    greenswitch's ESLEvent.parse_data decodes the whole body and then splits it, so a
    ``%0A`` inside a value (a user agent is the client's to choose) becomes a line break
    and forges a header of the attacker's choice. Splitting first keeps it inside its value.
    """
    text = body.decode("utf-8", "replace")
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            break  # the blank line ends the headers; an event body may follow
        key, sep, value = line.partition(": ")
        if not sep:
            raise FrameError(f"event header line without ': ' ({line[:40]!r})")
        headers[key] = unquote(value)
    return headers


def parse_event_body(content_type: str, body: bytes) -> dict[str, str]:
    if content_type == "text/event-json":
        return parse_json_body(body)
    if content_type == "text/event-plain":
        return parse_plain_body(body)
    raise FrameError(f"not an event content type: {content_type!r}")


_interned: dict[str, str] = {}


def _shared(text: str) -> str:
    """One copy of the strings most bindings share (node, profile, realm, agent...)."""
    if len(_interned) > 100_000:
        _interned.clear()
    return _interned.setdefault(text, text)


def contact_uri(contact: str) -> str:
    """``"" <sip:1001-0x..@127.0.0.1:5071>`` -> ``sip:1001-0x..@127.0.0.1:5071``."""
    start = contact.find("<")
    end = contact.find(">", start + 1)
    if start != -1 and end != -1:
        return contact[start + 1 : end]
    return contact.strip()


def network_proto(status: str) -> str:
    """The transport in ``Registered(UDP)`` / ``Registered(WSS-NAT)`` as the core table names it.

    sofia_reg.c passes ``is_tls ? "tls" : is_tcp ? "tcp" : "udp"`` to
    switch_core_add_registration; secure transports (TLS, WSS) count as tls and
    stream ones (TCP, WS) as tcp.
    """
    start = status.find("(")
    inside = status[start + 1 :].partition(")")[0] if start != -1 else ""
    transport = inside.partition("-")[0].upper()
    if transport in ("TLS", "WSS"):
        return "tls"
    if transport in ("TCP", "WS"):
        return "tcp"
    return "udp"


def clock_skew(headers: Mapping[str, str], now: float) -> float | None:
    """The node's clock minus ours (seconds) as one event shows it: its Event-Date-Timestamp
    (microseconds, set when the event fired) against ``now`` at arrival; None without one."""
    try:
        return int(headers["Event-Date-Timestamp"]) / 1_000_000 - now
    except (KeyError, ValueError):
        return None


def to_change(node: str, headers: Mapping[str, str], *, now: float, late_margin: int = 60) -> Change | None:
    """One parsed event -> the change it means, or None for events we do not track.

    Header names differ by subclass (see the fixtures README): register names the user in
    ``to-user`` (what the core table's reg_user holds), unregister in ``from-user``, and
    expire in ``user``/``host``. register's ``expires`` is relative seconds; the binding's
    absolute expiry is ``now`` (bridge's clock at arrival) + expires + the profile's late
    margin: what ``show registrations`` prints, less the node's clock error (a node whose
    clock is behind would otherwise have every binding expire at once, issue 21 item 12).
    """
    name = headers.get("Event-Name", "")
    if name == "HEARTBEAT":
        return Heartbeat(node, now)
    if name != "CUSTOM":
        return None
    subclass = headers.get("Event-Subclass", "")
    if not subclass.startswith("sofia::"):
        return None
    kind = subclass[len("sofia::") :]
    if kind not in _STATE_KINDS:
        failed = kind == "register_failure" or headers.get("auth-result") == "FORBIDDEN"
        return Observed(node, kind, failed, to_auth_seen(node, kind, headers, failed))
    profile = headers.get("profile-name", "")
    call_id = headers.get("call-id", "")
    if not call_id or not profile:
        raise FrameError(f"sofia::{kind} without call-id or profile-name")
    if kind == "expire":
        return Unregistered(
            node,
            kind,
            profile,
            headers.get("user", ""),
            headers.get("realm") or headers.get("host", ""),
            call_id,
        )
    if kind == "unregister":
        return Unregistered(
            node,
            kind,
            profile,
            headers.get("from-user") or headers.get("username", ""),
            headers.get("realm") or headers.get("from-host", ""),
            call_id,
        )
    try:
        relative = int(headers.get("expires", "0"))
    except ValueError as exc:
        raise FrameError("sofia::register with a non-numeric expires") from exc
    contact = headers.get("contact", "")
    status = headers.get("status", "")
    registration = Registration(
        url=f"sofia/{profile}/{contact_uri(contact)}",
        expires=str(int(now) + relative + late_margin),
        token=call_id,
        reg_user=headers.get("to-user") or headers.get("from-user", ""),
        network_proto=_shared(network_proto(status)),
        metadata="",
        hostname=_shared(headers.get("FreeSWITCH-Hostname", "")),
        network_port=headers.get("network-port", ""),
        realm=_shared(headers.get("realm") or headers.get("to-host", "")),
        network_ip=_shared(headers.get("network-ip", "")),
        node=_shared(node),
        profile=_shared(profile),
        user_agent=_shared(headers.get("user-agent", "")),
        status=_shared(status),
        contact=contact,
    )
    return Registered(node, registration)


def to_auth_seen(node: str, kind: str, headers: Mapping[str, str], refused: bool) -> AuthSeen | None:
    """register_attempt and register_failure as the guard reads them; None for other kinds.

    In register_attempt the authenticating user is ``username`` (``unknown`` when sofia
    refused before any lookup, e.g. inbound-reg-force-matching-username) and, for an INVITE
    or SUBSCRIBE, ``to-user``; register_failure names only ``to-user``/``to-host``.
    """
    if kind not in ("register_attempt", "register_failure"):
        return None
    username = headers.get("username", "")
    if not username or username == "unknown":
        username = headers.get("to-user", "")
    return AuthSeen(
        node=node,
        kind=kind,
        user=username[:200],
        domain=(headers.get("realm") or headers.get("to-host", ""))[:200],
        ip=headers.get("network-ip", "")[:64],
        port=headers.get("network-port", "")[:16],
        user_agent=headers.get("user-agent", "")[:200],
        refused=refused,
        call_id=headers.get("call-id", "")[:200],
    )


def parse_snapshot(node: str, body: str) -> Snapshot:
    """``show registrations as json``: ``{"row_count":N,"rows":[...]}``, or ``{"row_count": 0}``
    with no ``rows`` key at all when the table is empty.

    The core table has no user agent, status or contact display name; records built from
    it carry the contact URI and empty agent/status until the next REGISTER refreshes them.
    """
    text = body.strip()
    if text.startswith("-ERR"):
        raise FrameError(f"snapshot refused: {text[:80]}")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise FrameError(f"snapshot is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise FrameError("snapshot is not a JSON object")
    rows = document.get("rows", [])
    if not isinstance(rows, list):
        raise FrameError("snapshot rows is not a list")
    found = []
    for row in rows:
        if not isinstance(row, dict):
            raise FrameError("snapshot row is not an object")
        url = str(row.get("url", ""))
        parts = url.split("/", 2)
        profile = parts[1] if len(parts) == 3 and parts[0] == "sofia" else ""
        contact = parts[2] if len(parts) == 3 else url
        found.append(
            Registration(
                url=url,
                expires=str(row.get("expires", "")),
                token=str(row.get("token", "")),
                reg_user=str(row.get("reg_user", "")),
                network_proto=_shared(str(row.get("network_proto", ""))),
                metadata=str(row.get("metadata", "")),
                hostname=_shared(str(row.get("hostname", ""))),
                network_port=str(row.get("network_port", "")),
                realm=_shared(str(row.get("realm", ""))),
                network_ip=_shared(str(row.get("network_ip", ""))),
                node=_shared(node),
                profile=_shared(profile),
                user_agent="",
                status="",
                contact=contact,
            )
        )
    return Snapshot(node, tuple(found))
