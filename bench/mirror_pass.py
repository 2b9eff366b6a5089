"""One standby mirror pass over a big site, and how long it holds the event loop (issue 25).

    .venv/bin/python bench/mirror_pass.py [--nodes 50] [--bindings 500000] [--changes 5000]

The real RegistrationStore and RegistrationState of two "instances" in this process on one
PostgreSQL (DATABASE_URL, or an embedded one in a temporary directory): a writer follows
``--nodes`` nodes and writes ``--bindings`` bindings cut from the captured sofia::register
(each its own user, realm, Call-ID), one node per flush; a standby mirrors them. Prints,
for each kind of pass, its wall time, the rows it read (its own counter) and the longest
the event loop went without running a 5 ms ticker (what a lock confirmation or a lookup
waits at worst):

1. whole: the standby's first pass (every node read whole, as the mirror before the
   incremental one did for every node whose rows changed, every ``sync_interval``);
2. unchanged: a pass with nothing written since;
3. changed: after the writer refreshed ``--changes`` bindings and deleted a tenth as many,
   spread over every node.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import failover  # noqa: E402
from failover import load_average  # noqa: E402

from bridge.config import DatabaseConfig, FreeSwitchConfig, FreeSwitchNode  # noqa: E402
from bridge.db import Database  # noqa: E402
from bridge.registrations import events  # noqa: E402
from bridge.registrations.locks import NodeLocks  # noqa: E402
from bridge.registrations.model import NodeState, Registration  # noqa: E402
from bridge.registrations.persist import RegistrationStore  # noqa: E402
from bridge.registrations.state import RegistrationState  # noqa: E402
from tests.fakes.esl_server import frame_body  # noqa: E402
from tests.registrations.frames import REGISTER_1001  # noqa: E402


def template() -> Registration:
    import json

    change = events.to_change("fs1", json.loads(frame_body(REGISTER_1001)), now=time.time())
    assert isinstance(change, events.Registered)
    return change.registration


class Ticker:
    """The longest gap between two runs of a 5 ms sleep loop: the event loop's worst stall."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    def __enter__(self) -> Ticker:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def measure(what: str, store: RegistrationStore, state: RegistrationState) -> None:
    before = store.mirror_rows
    with Ticker() as ticker:
        started = time.perf_counter()
        await store.tick()
        took = time.perf_counter() - started
    held = sum(s.registrations for s in state.nodes())
    print(
        f"  {what:<10} {took * 1000:8.0f} ms  rows read {store.mirror_rows - before:>8,}"
        f"  loop stalled at most {ticker.worst * 1000:6.0f} ms  bindings held {held:,}"
        f"  (load {load_average()})",
        flush=True,
    )


async def run(url: str, args: argparse.Namespace) -> None:
    names = [f"fs{i + 1}" for i in range(args.nodes)]
    nodes = tuple(FreeSwitchNode.from_url(f"esl://{n}:ClueCon@127.0.0.1:1") for n in names)
    config = FreeSwitchConfig(nodes=nodes, spread=False)
    # The standby reads with the default bounds; the writer (set-up only) with generous ones.
    database = await Database.connect(url, DatabaseConfig(url=url))
    loose = await Database.connect(url, DatabaseConfig(url=url, query_timeout=30))

    def store(name: str, state: RegistrationState) -> RegistrationStore:
        locks = NodeLocks(url, config, connect_timeout=5)
        db = loose if name == "writer" else database
        return RegistrationStore(
            db, state, config, locks=locks, instance=name,
            follow=lambda _: None, unfollow=lambda _: None,
        )  # fmt: skip

    base = template()
    expires = str(int(time.time()) + 3600)
    writer_state = RegistrationState(names)
    writer = store("writer", writer_state)
    standby_state = RegistrationState(names)
    standby = store("standby", standby_state)
    syncing: asyncio.Task[None] | None = None
    try:
        await writer.take_over()
        assert writer.owned == set(names), "the writer must follow every node"
        # Its lock task keeps the lock session confirmed (and its sync task writes), as served.
        syncing = asyncio.get_running_loop().create_task(writer.run())
        per_node = args.bindings // args.nodes
        started = time.perf_counter()
        for n, name in enumerate(names):
            writer_state.apply(events.NodeChanged(name, NodeState.UP, time.time()))
            bindings = tuple(
                replace(
                    base, node=name, token=f"{name}-{i}", reg_user=f"u{n}-{i}", realm=f"d{i % 100}.test",
                    expires=expires,
                )
                for i in range(per_node)
            )  # fmt: skip
            writer_state.apply(events.Snapshot(name, bindings))
            await writer.flush()
        print(
            f"{args.nodes} nodes, {per_node * args.nodes:,} bindings written in "
            f"{time.perf_counter() - started:.1f} s (load {load_average()})",
            flush=True,
        )
        await measure("whole", standby, standby_state)
        await measure("unchanged", standby, standby_state)
        later = str(int(expires) + 60)
        for k in range(args.changes):
            name = names[k % args.nodes]
            i = k // args.nodes
            held = next(r for r in writer_state.bindings_of_node(name) if r.token == f"{name}-{i}")
            writer_state.apply(events.Registered(name, replace(held, expires=later)))
        for k in range(args.changes // 10):
            name = names[k % args.nodes]
            i = per_node - 1 - k // args.nodes
            user = f"u{names.index(name)}-{i}"
            writer_state.apply(events.Unregistered(name, "expire", base.profile, user, "", f"{name}-{i}"))
        await writer.flush()
        await measure("changed", standby, standby_state)
        await measure("unchanged", standby, standby_state)
    finally:
        if syncing is not None:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
        await writer.release()
        await standby.release()
        await database.close()
        await loose.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--bindings", type=int, default=500_000)
    parser.add_argument("--changes", type=int, default=5000)
    args = parser.parse_args()
    print(f"load average at start: {load_average()}", flush=True)
    with failover.database() as target:
        asyncio.run(run(target, args))


if __name__ == "__main__":
    main()
