"""The crash drill's own bookkeeping: labels checked as (spike, unit) pairs, relabels included."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import crash_drill  # noqa: E402


def test_edits_are_made_in_order_and_a_relabel_replaces_the_unit():
    labelled = {(3, 0), (7, 1)}
    edits = [(5, 0), (3, 1), (5, 1)]
    assert crash_drill.after(labelled, edits) == {(3, 1), (7, 1), (5, 1)}
    assert crash_drill.after(labelled, edits[:-1]) == {(3, 1), (7, 1), (5, 0)}
    assert crash_drill._pairs(["labelled", "3:0,7:1"]) == labelled
    assert crash_drill._pairs(["labelled"]) == set()
