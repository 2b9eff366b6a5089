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
