"""Golden files: bytes an answer must equal, kept in tests/fixtures/golden/.

They were written once from the renderer when it still equalled the lxml renderer it
replaced. ``BRIDGE_WRITE_GOLDEN=1`` rewrites them (review the diff: a change there is a
change of what FreeSWITCH receives).
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"


def assert_golden(name: str, data: bytes) -> None:
    """``data`` equals the golden file ``name`` byte for byte."""
    path = GOLDEN / name
    if os.environ.get("BRIDGE_WRITE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.is_file(), f"no golden file {path} (BRIDGE_WRITE_GOLDEN=1 writes it)"
    assert data == path.read_bytes(), f"bytes differ from {path}"
