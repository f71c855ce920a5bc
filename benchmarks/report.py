"""The MLP benchmark's report: the machine and settings it ran on, then its Markdown tables
(seconds per epoch and ratios, noise, µs and page faults per step, peak memory).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from competitors import METHODS, RATIOS
from workload import ADAM_LR, LR, Case

import deltaprop

Key = tuple[str, str]  # (case name, method)


@dataclass
class Results:
    """What a run measured, per (case name, method); None where nothing was measured."""

    times: dict[Key, float | None] = field(default_factory=dict)  # min s per epoch
    faults: dict[Key, float | None] = field(default_factory=dict)  # minor faults per epoch
    spread: dict[Key, float] = field(default_factory=dict)  # median / min - 1
    traced: dict[Key, float | None] = field(default_factory=dict)  # MB, tracemalloc
    rss: dict[Key, float | None] = field(default_factory=dict)  # MB, RSS high-water mark
    skipped: dict[str, str] = field(default_factory=dict)  # method -> why it cannot run
    not_applicable: list[str] = field(default_factory=list)  # "label at case (why)"


def machine_lines() -> list[str]:
    """The report's "- ..." lines on the CPU, BLAS, libraries and deltaprop's commit."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        f"- CPU: {cpu}; {os.cpu_count()} logical cores visible "
        f"(sched affinity: {len(os.sched_getaffinity(0))})",
        f"- Python {platform.python_version()}, NumPy {np.__version__}",
    ]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(
                    f"- BLAS: {info.get('internal_api')} {info.get('version')} "
                    f"({info.get('architecture')}, {info.get('num_threads')} threads, "
                    f"{os.path.basename(info.get('filepath', ''))})"
                )
    except ImportError:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"- BLAS: {cfg.get('name')} {cfg.get('version')}")
    lines.append(
        f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}"
    )
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        lines.append(
            f"- PyTorch {torch.__version__}, torch.set_num_threads({os.cpu_count()}) "
            f"-> {torch.get_num_threads()} threads"
        )
    except ImportError:
        lines.append("- PyTorch: not installed (column skipped)")
    try:
        import sklearn

        lines.append(f"- scikit-learn {sklearn.__version__}")
    except ImportError:
        lines.append("- scikit-learn: not installed (column skipped)")
    src = os.path.dirname(deltaprop.__file__)
    lines.append(f"- deltaprop {deltaprop.__version__} ({src}){_git_state(src)}")
    return lines


def _git_state(path: str) -> str:
    """', commit abc1234' (+ ', uncommitted changes in src/' when the tree differs), or ''."""
    try:
        run = {"cwd": path, "capture_output": True, "text": True, "timeout": 10, "check": True}
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], **run).stdout.strip()
    except Exception:
        return ""
    return f", commit {head}" + (", uncommitted changes in the package" if dirty else "")


def fmt_s(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if v >= 0.1 else f"{v:.4f}"


def fmt_mb(v: float | None, approx: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:.1f}" + ("†" if approx else "")


def print_header(command: str, cold_allocator: bool, repeats: int) -> None:
    """The title, the machine and the settings of the run."""
    print("# deltaprop MLP benchmark: one training epoch, float32\n")
    print("\n".join(machine_lines()))
    print(f"- command: {command}")
    print("- deltaprop fit uses dp.Trainer")
    print(
        "- allocator: "
        + (
            "left cold (--cold-allocator)"
            if cold_allocator
            else "glibc mmap threshold settled by one 24 MB allocation first (see settle_allocator)"
        )
    )
    print("- load average (1, 5, 15 min) at start: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    print(
        f"- time: min of {repeats} epochs after 1 warm-up epoch each, same process, the methods "
        f"taken in turn each round; SGD lr={LR} (the Adam case: Adam lr={ADAM_LR}), shuffled "
        "each epoch\n",
        flush=True,
    )


def print_tables(r: Results, cases: Sequence[Case], methods: Sequence[str], memory: str) -> None:
    """The Markdown tables of ``r`` for ``cases`` x ``methods`` (the skipped ones left out);
    ``memory`` is --memory's value (both, tracemalloc, rss or none)."""
    shown = [m for m in methods if m not in r.skipped]
    ratios = [(a, b) for a, b in RATIOS if a in shown and b in shown]
    print("## Seconds per epoch (lower is better) and ratios to the hand-written loop\n")
    head = ["case", "n"] + [METHODS[m][0] for m in shown] + [f"{a} / {b}" for a, b in ratios]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
    for case in cases:
        row = [f"{case.name}", str(case.n)] + [fmt_s(r.times[case.name, m]) for m in shown]
        for a, b in ratios:
            ta, tb = r.times[case.name, a], r.times[case.name, b]
            row.append(f"{ta / tb:.2f}x" if ta and tb else "n/a")
        print("| " + " | ".join(row) + " |")
    print("\nNoise: median / min - 1 over the timed epochs, per method:\n")
    print("| case | " + " | ".join(METHODS[m][0] for m in shown) + " |")
    print("|---|" + "--:|" * len(shown))
    for case in cases:
        cells = [
            f"{100 * r.spread[case.name, m]:.1f}%" if (case.name, m) in r.spread else "n/a"
            for m in shown
        ]
        print(f"| {case.name} | " + " | ".join(cells) + " |")
    print("\nPer step: µs (minor page faults), same runs:\n")
    print("| case | steps | " + " | ".join(METHODS[m][0] for m in shown) + " |")
    print("|---|--:|" + "--:|" * len(shown))
    for case in cases:
        steps = -(-case.n // case.batch)
        cells = [
            f"{1e6 * r.times[case.name, m] / steps:.0f} ({r.faults[case.name, m] / steps:.1f})"
            if r.times[case.name, m] is not None
            else "n/a"
            for m in shown
        ]
        print(f"| {case.name} | {steps} | " + " | ".join(cells) + " |")

    if memory != "none":
        print("\n## Peak memory during one epoch (MB)\n")
        cols = []
        if memory in ("both", "tracemalloc"):
            cols.append(("traced", r.traced))
        if memory in ("both", "rss"):
            cols.append(("RSS", r.rss))
        head = ["case", "X,y copy"] + [f"{METHODS[m][0]} {c}" for c, _ in cols for m in shown]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|")
        for case in cases:
            cells = [
                fmt_mb(d[case.name, m], approx=(c == "traced" and m == "torch"))
                for c, d in cols
                for m in shown
            ]
            copy_mb = case.n * (case.sizes[0] * 4 + 8) / 2**20
            print(f"| {case.name} | {copy_mb:.1f} | " + " | ".join(cells) + " |")
        print()
        if memory in ("both", "tracemalloc"):
            print(
                "- traced: tracemalloc peak of Python and NumPy allocations during one (warm) "
                "epoch, above the level at its start; it includes the epoch's shuffled copy of X "
                "and y ('X,y copy'; sklearn indexes each batch instead). † PyTorch's tensor "
                "memory is not visible to tracemalloc: its cell counts only the NumPy shuffled "
                "copy."
            )
        if memory in ("both", "rss"):
            print(
                "- RSS: growth of the resident set's high-water mark (VmHWM, reset through "
                "/proc/self/clear_refs) over the first epoch in a fresh process, above VmRSS "
                "before it; counts every allocator (PyTorch's too) and one-time first-epoch "
                "costs, but not pages the epoch reuses from memory freed during setup (so it "
                "can read below 'traced' for small data); page-granular."
            )
    if r.skipped:
        print("\nSkipped: " + "; ".join(f"{METHODS[m][0]} ({why})" for m, why in r.skipped.items()))
    if r.not_applicable:
        print("\nNot applicable (n/a): " + "; ".join(r.not_applicable))
    print(
        "\nNotes: 'hand+bk' computes loss and accuracy per batch like dp.Trainer does; 'hand' "
        "does not, like the plain loops and torch (sklearn's partial_fit computes its loss every "
        "batch regardless). fit includes Trainer.fit's per-call setup (one epoch per call)."
    )
    print(
        "\nLoad average (1, 5, 15 min) at the end: {:.2f}, {:.2f}, {:.2f} (other processes on "
        "the machine disturb the timings)".format(*os.getloadavg())
    )
