"""Addresses as the guard compares them (pure): one canonical text per address, IPv6 prefixes.

``::ffff:198.51.100.241`` is 198.51.100.241 and ``2001:DB8::241`` is ``2001:db8::241``: a ban,
a count and a lookup meet on the same text whatever form a form or an event wrote.
"""

from __future__ import annotations

import functools
import ipaddress

from bridge.addresses import address_of

# An address's text is at most 45 characters, with a zone a few more: longer texts are not
# remembered (a forged field cannot fill the memory), only parsed (and refused).
_REMEMBERED_LENGTH = 64


def canonical(text: str) -> str | None:
    """The address's one text (IPv4-mapped IPv6 as IPv4, lower case, zone dropped); None if not one."""
    if len(text) > _REMEMBERED_LENGTH:
        return _canonical(text)
    return _remembered(text)


def _canonical(text: str) -> str | None:
    address = address_of(text)
    return None if address is None else str(address)


# The same few addresses arrive in every form and event (~5 µs each to parse with ipaddress):
# each text's answer is remembered, the least recently used of 4,096 forgotten first.
_remembered = functools.lru_cache(maxsize=4096)(_canonical)


def prefix_of(address: str, bits: int) -> str | None:
    """The IPv6 prefix (``2001:db8:1:2::/64``) holding a canonical IPv6 address; None for IPv4."""
    if ":" not in address or "/" in address:
        return None
    return str(ipaddress.IPv6Network(f"{address}/{bits}", strict=False))


def is_network(ban_ip: str) -> bool:
    """Whether a ban's ``ip`` is a prefix (a widened IPv6 ban) rather than one address."""
    return "/" in ban_ip


def source_of(ip: str, bits: int) -> str:
    """Who a queued attempt is from, for fair queueing: an IPv4 address or an IPv6 prefix."""
    if ":" not in ip:
        return ip
    address = canonical(ip)
    if address is None:
        return ip[:64]
    return prefix_of(address, bits) or address
