"""Measuring epochs: the allocator setup, the timing rounds, and the two memory probes
(tracemalloc in this process, the RSS high-water mark in a fresh one).

An epoch here is any callable that trains one epoch; the harness knows nothing of the methods.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import time
import tracemalloc
from collections.abc import Callable

import numpy as np


def settle_allocator(mb: int = 24) -> None:
    """Allocate and free one ``mb`` MB array so that glibc's dynamic mmap threshold rises to it
    (its ceiling is 32 MB) for every method alike.

    In a fresh process the threshold is 128 KB: each step's multi-MB temporaries (activations,
    gradients) are then mmapped and unmapped, or the heap top is trimmed, and faulted in again
    page by page on the next step (~1000-2000 minor faults per step at 784-512-512-10/b512, up
    to 2x slower). Freeing any mmapped block raises the threshold, so which regime a method
    lands in depends on what ran before it (dp.Trainer.fit frees a big validation temporary
    and so is always in the fast one). Settling it first makes the comparison fair;
    ``--cold-allocator`` skips this to show the other regime."""
    a = np.ones(mb * 2**20 // 4, dtype=np.float32)
    del a


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_round_robin(
    epochs: dict[str, Callable], repeats: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per method: min seconds per epoch, mean minor page faults per epoch, and the noise
    (median / min - 1 of the timed epochs).

    One warm-up epoch each, then ``repeats`` rounds that time one epoch of every method in
    turn, so that a burst of load from other processes hits all methods alike instead of
    one. Page faults show allocation churn: NumPy temporaries above glibc's mmap/trim
    thresholds are handed back to the OS and faulted in again, page by page, on the next step.
    """
    for epoch in epochs.values():
        epoch()  # warm-up: first-call allocations, BLAS buffers, sklearn's init
    runs: dict[str, list[float]] = {m: [] for m in epochs}
    faults = dict.fromkeys(epochs, 0)
    for _ in range(repeats):
        for m, epoch in epochs.items():
            gc.collect()
            f0 = _minflt()
            t0 = time.perf_counter()
            epoch()
            runs[m].append(time.perf_counter() - t0)
            faults[m] += _minflt() - f0
    return (
        {m: min(r) for m, r in runs.items()},
        {m: f / repeats for m, f in faults.items()},
        {m: float(np.median(r)) / min(r) - 1 for m, r in runs.items()},
    )


def traced_peak(epoch: Callable) -> float:
    """Peak of Python/NumPy allocations (tracemalloc) during one epoch, above the level at its
    start, in MB. NumPy reports its data buffers to tracemalloc; PyTorch's do not show."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        epoch()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 2**20


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def rss_first_epoch(epoch: Callable) -> float:
    """Growth in MB of the RSS high-water mark over ``epoch()``, above VmRSS before it (Linux:
    the mark is reset by writing 5 to /proc/self/clear_refs). Meant for the first epoch in a
    fresh process: see ``rss_growth``."""
    gc.collect()
    rss0 = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    epoch()
    return (_status_kb("VmHWM") - rss0) / 1024


def rss_growth(cmd: list[str]) -> float | None:
    """Run ``cmd``, a fresh process that prints ``rss_first_epoch``'s MB on its last line; None
    when it fails (the cell then reads n/a)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except Exception:
        return None
