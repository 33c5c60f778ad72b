"""Timing shared by the benchmark scripts: one warm-up call, then the median of the repeats."""
from __future__ import annotations

import statistics
import time


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: first calls pay for allocation and kernel selection
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def seconds(fn, *args) -> float:
    """One call's wall time (the caller has warmed it up)."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0
