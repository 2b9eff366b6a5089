"""Pure modules really import no I/O library: each is imported in a fresh interpreter that
cannot import aiohttp, asyncpg, greenswitch or gevent (what it pulls in counts, not only
what it names). The registrations core is held further: no asyncio, no socket either."""

from __future__ import annotations

import subprocess
import sys

import pytest

IO = ("aiohttp", "asyncpg", "greenswitch", "gevent")

PURE = [
    "bridge.xui_values",
    "bridge.xui.columns",
    "bridge.api.round_trip",
    "bridge.errors",
    "bridge.config",
    "bridge.hashes",
    "bridge.health",
    "bridge.addresses",
    "bridge.directory.form",
    "bridge.directory.lookup",
    "bridge.directory.render",
    "bridge.directory.flags",
    "bridge.directory.extension",
    "bridge.directory.store.protocol",
    "bridge.directory.answers",
    "bridge.directory.rendered",
    "bridge.directory.whole",
    "bridge.directory.store.cache",
    "bridge.directory.store.batch",
    "bridge.directory.store.waiters",
    "bridge.registrations.events",
    "bridge.registrations.state",
    "bridge.registrations.model",
    "bridge.registrations.nodes",
    "bridge.registrations.readiness",
    "bridge.registrations.metrics",
    "bridge.registrations.sanitize",
    "bridge.registrations.listing",
    "bridge.console.hub",
    "bridge.console.paging",
    "bridge.api.shapes",
    "bridge.api.provision.shapes",
    "bridge.api.groups.shapes",
    "bridge.api.openapi.schema",
    "bridge.api.catalog",
    "bridge.api.presence",
]
# Plain functions over typed values: not even the event loop or a socket.
CORE = [
    "bridge.registrations.events",
    "bridge.registrations.state",
    "bridge.registrations.model",
    "bridge.registrations.nodes",
    "bridge.registrations.sanitize",
]

CHILD = """
import importlib, sys

banned = set(sys.argv[2].split(","))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in banned:
            raise ImportError(f"{sys.argv[1]} pulled in {name}")
        return None

for name in list(sys.modules):
    if name.split(".")[0] in banned:
        del sys.modules[name]
sys.meta_path.insert(0, Refuse())
importlib.import_module(sys.argv[1])
"""


def _import_without(module: str, banned: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, module, ",".join(banned)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", PURE)
def test_given_no_io_library_importable_then_the_pure_module_still_imports(module: str) -> None:
    result = _import_without(module, IO)
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]


@pytest.mark.parametrize("module", CORE)
def test_given_no_event_loop_or_socket_then_the_registrations_core_still_imports(module: str) -> None:
    result = _import_without(module, (*IO, "asyncio", "socket"))
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1:]


def test_given_a_module_that_uses_asyncpg_then_the_check_refuses_it() -> None:
    # The check can fail: bridge.db needs asyncpg.
    result = _import_without("bridge.db", IO)
    assert result.returncode != 0 and "pulled in asyncpg" in result.stderr
