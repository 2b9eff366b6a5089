"""The optional nftables sets bridge keeps in step with its source bans (guard.nft_set).

``guard.nft_set = "inet bridge_guard banned"`` makes bridge keep IPv4 bans in set ``banned`` and
IPv6 bans in set ``banned6`` of table ``inet bridge_guard`` (created if missing, with timeouts, so
an element expires in the kernel when its ban does even if bridge is gone). Dropping the
packets is the operator's rule (deploy/nftables/bridge-guard.nft); bridge only runs ``nft``
with argument lists (never a shell), and needs CAP_NET_ADMIN to. Limits of one extension
never reach the firewall: they would cut off the whole office behind that address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shlex
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], Awaitable[tuple[int, str]]]


async def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run one command (no shell), at most 5 s; (exit code, stderr)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        return 127, str(exc)
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout=5.0)
    except TimeoutError:
        process.kill()
        await process.wait()
        return 124, "timed out"
    return process.returncode or 0, err.decode("utf-8", "replace").strip()[:200]


class NftSet:
    def __init__(
        self,
        spec: str,
        command: str = "nft",
        runner: Runner = run_command,
        on_result: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self.family, self.table, self.name = spec.split()
        # "nft", or a longer command line such as "sudo -n nft" / "ip netns exec NS nft".
        self._command = shlex.split(command) or ["nft"]
        self._runner = runner
        self._on_result = on_result

    def _set_of(self, ip: str) -> str:
        # An address, or a widened IPv6 prefix ("2001:db8::/64": the IPv6 set is an interval set).
        return f"{self.name}6" if ipaddress.ip_network(ip, strict=False).version == 6 else self.name

    def setup_commands(self) -> list[list[str]]:
        nft, fam, table = self._command, self.family, self.table
        return [
            [*nft, "add", "table", fam, table],
            [*nft, "add", "set", fam, table, self.name, "{ type ipv4_addr; flags timeout; }"],
            [*nft, "add", "set", fam, table, f"{self.name}6", "{ type ipv6_addr; flags interval, timeout; }"],
            [*nft, "flush", "set", fam, table, self.name],
            [*nft, "flush", "set", fam, table, f"{self.name}6"],
        ]

    def add_command(self, ip: str, seconds: float) -> list[str]:
        timeout = max(1, int(seconds))
        return [*self._command, "add", "element", self.family, self.table, self._set_of(ip),
                f"{{ {ip} timeout {timeout}s }}"]  # fmt: skip

    def delete_command(self, ip: str) -> list[str]:
        return [*self._command, "delete", "element", self.family, self.table, self._set_of(ip), f"{{ {ip} }}"]

    async def _run(self, argv: list[str], quiet: bool = False) -> bool:
        code, err = await self._runner(argv)
        ok = code == 0
        self._on_result(ok)
        if not ok and not quiet:
            log.warning("nft command failed set=%s code=%d error=%s", self.name, code, err)
        return ok

    async def setup(self, bans: Sequence[tuple[str, float]]) -> bool:
        """Create the table and sets, empty them, add the active bans (ip, seconds left)."""
        ok = True
        for argv in self.setup_commands():
            ok = await self._run(argv) and ok
        for ip, seconds in bans:
            ok = await self.add(ip, seconds) and ok
        return ok

    async def add(self, ip: str, seconds: float) -> bool:
        return await self._run(self.add_command(ip, seconds))

    async def delete(self, ip: str) -> bool:
        # An element that already timed out in the kernel cannot be deleted: not an error.
        return await self._run(self.delete_command(ip), quiet=True)
