"""Timing for the cost demos: the best of a few runs (the least disturbed by other work)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """The shortest wall time, in seconds, of ``repeats`` calls of ``fn()``."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
