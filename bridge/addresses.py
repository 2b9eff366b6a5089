"""A peer's address as every job compares it (pure): zone dropped, IPv4-mapped IPv6 as IPv4."""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_of(text: str) -> Address | None:
    """``::ffff:198.51.100.241`` is 198.51.100.241 (an IPv4 client of a dual-stack socket),
    ``fe80::1%eth0`` is ``fe80::1``; None when the text is no address."""
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
