"""What a node may send: bindings checked and clamped before they reach the state (pure).

Event Socket input is the node's, but most of a binding's fields are chosen by SIP
clients (user, Call-ID, contact, agent). A binding whose identity is unusable (empty or
control characters in user or realm, an address that is not an IP, a port outside
1-65535) is refused; free text is truncated and its control characters escaped; an
expiry beyond ``max_expires`` seconds from now is clamped so the sweep can drop it.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from dataclasses import dataclass

from bridge.registrations.model import Registration

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Markup and quotes have no place in a SIP user part or a domain as XUI shows them.
_BAD_IDENTITY = re.compile(r"[\x00-\x20\x7f<>\"'&\\]")
# The longest text an IP address is written as (IPv6 with an embedded IPv4 and a zone is
# longer, but FreeSWITCH prints network_ip without a zone).
_LONGEST_IP = 64


class Refused(ValueError):
    """A binding bridge will not hold; the reason names the field, never its value."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_expires: int = 7 * 86400  # seconds from now
    max_field: int = 512  # characters of any field


def _text(text: str, limit: int) -> str:
    """Clean text comes back as the same object (the interned strings stay shared)."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text[:limit]


def _identity(field: str, text: str, limit: int) -> str:
    if not text or len(text) > limit or _BAD_IDENTITY.search(text):
        raise Refused(f"bad {field}")
    return text


@functools.lru_cache(maxsize=4096)
def _canonical_ip(text: str) -> str | None:
    # A site's phones sit behind few addresses (NAT): a snapshot of 10,000 bindings parses
    # a handful. Only short texts reach here, so a forged field cannot fill the cache.
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def checked(registration: Registration, *, now: float, limits: Limits) -> Registration:
    """The binding as bridge will hold it, or Refused. A binding that needs no change comes
    back as the same object (most do: snapshots and reconciles check 10,000 a node)."""
    r = registration
    _identity("reg_user", r.reg_user, limits.max_field)
    _identity("realm", r.realm, limits.max_field)
    if not r.token or len(r.token) > limits.max_field or _CONTROL.search(r.token):
        raise Refused("bad call-id")
    ip = _canonical_ip(r.network_ip) if len(r.network_ip) <= _LONGEST_IP else None
    if ip is None:
        raise Refused("bad network_ip")
    port = r.network_port
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise Refused("bad network_port")
    ceiling = int(now) + limits.max_expires
    expires = r.expires_at
    if expires <= 0 or expires > ceiling:
        expires = ceiling  # unreadable or beyond the limit: swept at the latest then
    limit = limits.max_field
    fields = {
        "network_ip": r.network_ip if ip == r.network_ip else ip,
        "network_port": port if port[0] != "0" else str(int(port)),
        "expires": r.expires if expires == r.expires_at and r.expires.isdigit() else str(expires),
        "url": _text(r.url, limit),
        "contact": _text(r.contact, limit),
        "user_agent": _text(r.user_agent, limit),
        "status": _text(r.status, limit),
        "hostname": _text(r.hostname, limit),
        "metadata": _text(r.metadata, limit),
    }
    if all(value is getattr(r, name) for name, value in fields.items()):
        return r
    return dataclasses.replace(r, **fields)
