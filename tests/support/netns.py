"""A non-loopback client: a network namespace joined to this host by a veth pair, made by the test.

The pair takes a random /30 of 10.200.0.0/16 (host end .1, namespace end .2), so tests running
at once on one machine do not collide. Nothing is routed beyond the pair. Everything is removed
on exit, whatever happened. No ``ip netns`` here (not root, no iproute2) is a failure, not a skip:
the promise tested needs a real client from another address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# Run inside the namespace: one HTTP request, status and body (latin-1) printed as JSON.
_CLIENT = """
import json, sys, urllib.error, urllib.request
url, headers, body = sys.argv[1], json.loads(sys.argv[2]), sys.stdin.buffer.read()
request = urllib.request.Request(url, data=body or None, headers=headers, method="POST" if body else "GET")
try:
    with urllib.request.urlopen(request, timeout=20) as response:
        status, text = response.status, response.read()
except urllib.error.HTTPError as exc:
    status, text = exc.code, exc.read()
print(json.dumps([status, text.decode("latin-1")]))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Namespace:
    name: str
    host_address: str  # this host's end of the pair
    address: str  # the namespace's end: the client's source address

    def request(
        self, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """One HTTP request made from inside the namespace (blocking: run it in a thread)."""
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.name,
                sys.executable,
                "-c",
                _CLIENT,
                url,
                json.dumps(dict(headers or {})),
            ],
            input=body,
            capture_output=True,
            check=True,
            timeout=60,
        )
        status, text = json.loads(result.stdout)
        return int(status), str(text)


@contextlib.contextmanager
def veth_namespace() -> Iterator[Namespace]:
    tag = secrets.token_hex(4)
    name, host_end, ns_end = f"bridge-t-{tag}", f"vbh{tag}", f"vbn{tag}"
    base = int(ipaddress.IPv4Address("10.200.0.0")) + 4 * secrets.randbelow(16384)
    host_address, address = str(ipaddress.IPv4Address(base + 1)), str(ipaddress.IPv4Address(base + 2))
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{address}/30", "dev", ns_end)
        _ip("netns", "exec", name, "ip", "link", "set", ns_end, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name, host_address, address)
    finally:
        subprocess.run(["ip", "link", "delete", host_end], capture_output=True, check=False, timeout=30)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False, timeout=30)
