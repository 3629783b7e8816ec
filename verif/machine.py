"""A yardstick for wall times measured on different days: the shared 2-core machine's speed
varies several-fold, so a regression or benchmark wall time is recorded beside the time
this fixed pure-Python loop took in the same run (``make test`` and ``make bench`` both)."""

from __future__ import annotations

import time

PROBE_ITERATIONS = 5_000_000


def speed_probe() -> float:
    """Seconds for PROBE_ITERATIONS additions in the interpreter (best of three)."""
    best = float("inf")
    for _ in range(3):
        t0, s = time.perf_counter(), 0
        for i in range(PROBE_ITERATIONS):
            s += i
        best = min(best, time.perf_counter() - t0)
    return best
