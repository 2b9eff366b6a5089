"""The collector tuning a serving process applies (bridge.gc_tuning), checked in a child process.

gc.freeze() and gc.callbacks are process-wide, so the checks run in a fresh interpreter
rather than in the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json
from prometheus_client import generate_latest
from bridge import gc_tuning
from bridge.metrics import Metrics

FULL = 'bridge_gc_pause_seconds_count{generation="2"}'
metrics = Metrics()
before = gc.get_threshold()
gc_tuning.settle()
gc_tuning.watch_pauses(metrics.gc_pause_seconds)
gc.collect()
exposition = generate_latest(metrics.registry).decode()
print(json.dumps({
    "before": before[0],
    "after": gc.get_threshold()[0],
    "frozen": gc.get_freeze_count(),
    "full": [l for l in exposition.splitlines() if l.startswith(FULL)],
}))
"""


def test_settle_freezes_the_start_up_heap_spaces_young_collections_and_pauses_are_observed() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["before"] == 700  # CPython's default, so the change below is the tuning's
    assert result["after"] == 10_000
    assert result["frozen"] > 10_000  # the imported modules, at least
    assert result["full"] == ['bridge_gc_pause_seconds_count{generation="2"} 1.0']


REFREEZE = """
import gc, json
from bridge import gc_tuning

gc_tuning.refreeze()  # not settled: a test process's collector stays as it was
untouched = gc.get_freeze_count()
gc_tuning.settle()
settled = gc.get_freeze_count()
cache = {("1%05d" % n, "xswitch.test"): {"extn": str(n), "vars": [n]} for n in range(200_000)}
gc.collect()
tracked = len(gc.get_objects())  # what a full collection walks
gc_tuning.refreeze()
print(json.dumps({"untouched": untouched, "settled": settled, "after": gc.get_freeze_count(),
                  "tracked": tracked, "frozen": len(gc.get_objects())}))
"""


def test_given_a_settled_process_when_a_bulk_load_is_refrozen_then_full_collections_skip_it() -> None:
    out = subprocess.run([sys.executable, "-c", REFREEZE], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["untouched"] == 0
    assert result["after"] >= result["settled"] + 400_000  # a dict and a list per entry
    # What a full collection walks: the 400,000 loaded containers before, none of them after.
    assert result["tracked"] >= 400_000
    assert result["frozen"] < 1_000
