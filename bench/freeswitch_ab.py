"""Two bridge trees (or settings) against each other, interleaved: freeswitch_shaped.py's lookups.

Run by hand (not a test). On a machine shared with other work, one tree measured now and the
other in ten minutes differ by the machine's load, not by the code: here both trees' servers
take turns on one PostgreSQL, in alternating order each round, between the yardsticks
(``bare``, ``bare-db``: freeswitch_shaped.py's). Prints every run, then per scenario the
server's CPU per lookup min / median over the rounds (the steadiest figure), p50 and
lookups/s medians.

    .venv/bin/python bench/freeswitch_ab.py --trees /tmp/main-tree,. [--rounds 4] [--duration 3]
        [--in-flight 16] [--only bare,warm,bare-db,cold] [--extensions 20000] [--warm-users 5000]

A tree is a checkout's directory (``git worktree add --detach /tmp/main-tree main``), served
with this script's Python; ``TREE|section.key=value`` adds a setting to that tree's runs, so
``.,.|guard.enabled=false`` measures what the guard costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import directory_bench as bench  # noqa: E402
import freeswitch_shaped as fs  # noqa: E402

from bridge.embedded.server import EmbeddedPostgres  # noqa: E402


def serve(tree: str, dsn: str, port: int, *settings: str) -> subprocess.Popen[bytes]:
    """``bridge serve`` from ``tree`` (its own ``bridge`` package: run from that directory)."""
    path, *extra = tree.split("|")
    cmd = [bench.PYTHON, "-m", "bridge", "--set", f"database.url={dsn}", "--set", "log.level=WARNING"]
    for item in (*settings, *extra):
        cmd += ["--set", item]
    cmd += ["serve", "--port", str(port), "--workers", "1"]
    return bench.start(cmd, port, cwd=Path(path).resolve())


def label(scenario: str, tree: str | None) -> str:
    if tree is None:
        return scenario
    path, _, extra = tree.partition("|")
    return f"{scenario}@{Path(path).resolve().name}" + (f"|{extra}" if extra else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trees", required=True, help="comma-separated checkouts (TREE or TREE|key=value)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3, help="seconds per measurement")
    parser.add_argument("--in-flight", default="16", help="comma-separated lookups in flight")
    parser.add_argument("--only", default="bare,warm,bare-db,cold", help="comma-separated scenarios")
    parser.add_argument("--extensions", type=int, default=20_000, help="rows in PostgreSQL")
    parser.add_argument("--warm-users", type=int, default=5_000, help="users cached in the warm runs")
    args = parser.parse_args()
    trees = args.trees.split(",")
    levels = [int(n) for n in args.in_flight.split(",")]
    results: dict[tuple[str, int], list[fs.Result]] = {}

    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="bridge-ab-")) / "pgdata")
    dsn = pg.start()
    try:
        asyncio.run(bench.seed(dsn, args.extensions))
        asyncio.run(fs.settle(dsn))
        for round_ in range(args.rounds):
            turn = trees if round_ % 2 == 0 else trees[::-1]
            order = [
                (scenario, tree)
                for scenario in args.only.split(",")
                for tree in ([None] if scenario.startswith("bare") else turn)
            ]
            for scenario, tree in order:
                port = bench.free_port()
                bare = [bench.PYTHON, str(HERE / "directory_bare.py"), str(port)]
                if scenario == "bare":
                    server, users = bench.start(bare, port), args.warm_users
                elif scenario == "bare-db":
                    server, users = bench.start([*bare, dsn], port), args.extensions
                elif scenario == "warm" and tree is not None:
                    server, users = serve(tree, dsn, port), args.warm_users
                elif scenario == "cold" and tree is not None:
                    server, users = serve(tree, dsn, port, "directory.cache_size=0"), args.extensions
                else:
                    raise SystemExit(f"unknown scenario {scenario!r}")
                try:
                    requests = fs.Requests(port, bench.FIRST, users)
                    if tree is not None:
                        fs.wait_warmed(port)
                    if scenario == "warm":
                        fs.fill(port, requests)
                    for level in levels:
                        shuffle = scenario in ("cold", "bare-db")
                        result = fs.run(
                            scenario, port, requests, level, args.duration, shuffle=shuffle, pid=server.pid
                        )
                        results.setdefault((label(scenario, tree), level), []).append(result)
                        print(f"round {round_} {label(scenario, tree):<32} {result.line()}", flush=True)
                finally:
                    bench.stop(server)
    finally:
        pg.remove()

    print(f"\n{args.rounds} rounds of {args.duration:g} s; server CPU per lookup min / median (each run)")
    for (name, level), runs in sorted(results.items(), key=lambda item: (item[0][1], item[0][0])):
        cpu = sorted(r.cpu_us or 0.0 for r in runs)
        print(
            f"{name:<36} in flight {level:>2}: {cpu[0]:5.0f} / {statistics.median(cpu):5.0f} us"
            f"  ({', '.join(f'{c:.0f}' for c in cpu)})"
            f"  p50 {statistics.median(r.pct(50) for r in runs):.2f} ms"
            f"  {statistics.median(r.rate for r in runs):.0f} lookups/s"
        )


if __name__ == "__main__":
    main()
