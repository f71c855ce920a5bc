"""One training epoch of an MLP: deltaprop against a hand-written NumPy loop, PyTorch and sklearn.

    python benchmarks/mlp.py                      # every case, every method (a few minutes)
    python benchmarks/mlp.py --quick              # smaller data, 2 runs: a smoke test
    python benchmarks/mlp.py --repeats 7 --cases 784-256-128-10/b128 64-32-10/b1
    python benchmarks/mlp.py --methods fit hand_bk hand --memory none

Every method trains the same float32 network (same initial weights, lr=0.01 SGD, softmax
cross-entropy) on the same seeded synthetic data with the same batching scheme: one permuted copy
of X and y per epoch, then contiguous slices. The time of an epoch is the minimum over
``--repeats`` (default 7) runs after one warm-up epoch each, all in this one process, the
methods taken in turn in every round so that outside load hits them alike. Before anything,
one 24 MB allocation settles glibc's mmap threshold (see ``settle_allocator``). ``--check``
verifies that every deltaprop variant and PyTorch end an epoch with the hand loop's weights.

Two cases change the recipe (784-256-128-10, batch 128, like the first case):
  .../Adam                the same ReLU MLP trained with Adam (lr 1e-3, betas (0.9, 0.999),
                          eps 1e-8: torch.optim.Adam's defaults) instead of SGD; the hand loops
                          update in place in deltaprop's order of operations, sklearn uses
                          solver="adam"
  .../dropout+batchnorm   Linear -> BatchNorm1d -> ReLU -> Dropout(0.2), twice, then Linear,
                          in training mode (batch statistics, running statistics updated), SGD
                          lr 0.01; the hand loops write batch norm's forward and backward out;
                          sklearn has neither layer (n/a)
Dropout masks: every NumPy method (deltaprop's three, both hand loops) draws the epoch's
permutation and then each step's masks, layer by layer, from one generator seeded like the
others, so they all drop the same units. PyTorch draws its masks from its own generator, so
``--check`` gives its model a stand-in dropout layer with masks from that same NumPy stream
(the timed runs use torch.nn.Dropout). With the masks shared, ``--check`` compares the Linear
weights and biases, batch norm's weight and bias and its running mean and variance.

Methods (columns):
  fit      deltaprop ``dp.Trainer(...).fit(X, y, epochs=1, ...)`` with metrics=["accuracy"]
  loop     deltaprop's plain loop: nn.Sequential, nn.CrossEntropyLoss, optim.SGD (optim.Adam)
  ops      deltaprop's engine without nn/optim: ops.linear, ops.relu, ops.cross_entropy (and
           ops.batch_norm, ops.dropout) on Parameters, and the hand loop's in-place update
           (isolates the engine from the layers)
  hand_bk  hand-written NumPy backprop, with per-batch loss and accuracy (what fit computes)
  hand     the same hand-written loop without the bookkeeping
  torch    PyTorch CPU eager: nn.Sequential, CrossEntropyLoss, optim.SGD (optim.Adam)
  sklearn  scikit-learn MLPClassifier(solver="sgd" or "adam"), one partial_fit epoch

The code: workload.py (recipe, data, initial weights), competitors.py (the methods: hand_loops.py,
dp_methods.py, libraries.py), harness.py (timing rounds, allocator, memory probes), agreement.py
(--check), report.py (the tables); this file holds the cases and the command line.

This is a script, not a test: pytest never collects it (benchmarks/ is outside testpaths).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import replace

import agreement
import harness
import report
from competitors import METHODS
from workload import Case, NotApplicable, Unavailable, make_data

CASES = [
    Case("784-256-128-10/b128", (784, 256, 128, 10), 128, 32768),
    Case("784-512-512-10/b512", (784, 512, 512, 10), 512, 32768),
    Case("64-32-10/b1", (64, 32, 10), 1, 16384),
    Case("64-128-10/b32", (64, 128, 10), 32, 65536),
    Case("784-256-128-10/b128/Adam", (784, 256, 128, 10), 128, 32768, optimizer="adam"),
    Case("784-256-128-10/b128/dropout+batchnorm", (784, 256, 128, 10), 128, 32768, bn_dropout=True),
]
CASE_BY_NAME = {c.name: c for c in CASES}


def _scaled(case: Case, quick: bool) -> Case:
    return replace(case, n=case.n // 4) if quick else case


def _rss_child(case_name: str, method: str, quick: bool, cold: bool) -> None:
    """Run in a fresh process (the hidden --_rss-child): setup, then the first epoch under
    ``harness.rss_first_epoch``. Prints growth in MB."""
    if not cold:
        harness.settle_allocator()
    case = _scaled(CASE_BY_NAME[case_name], quick)
    X, y = make_data(case.sizes[0], case.n)
    print(harness.rss_first_epoch(METHODS[method][1](case, X, y)))


def _rss_growth(case: Case, method: str, quick: bool, cold: bool) -> float | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss-child", case.name, method]
    if quick:
        cmd.append("--quick")
    if cold:
        cmd.append("--cold-allocator")
    return harness.rss_growth(cmd)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a quarter of the data, 2 runs")
    ap.add_argument("--repeats", type=int, default=None, help="timed epochs per method (min)")
    ap.add_argument(
        "--cases",
        nargs="+",
        default=None,
        choices=list(CASE_BY_NAME),
        metavar="CASE",
        help=f"subset of: {', '.join(CASE_BY_NAME)}",
    )
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument(
        "--memory",
        choices=("both", "tracemalloc", "rss", "none"),
        default=None,
        help="memory columns (default: both; --quick: tracemalloc)",
    )
    ap.add_argument(
        "--check",
        action="store_true",
        help="only check that the methods compute the same weights, then exit",
    )
    ap.add_argument(
        "--cold-allocator",
        action="store_true",
        help="do not settle glibc's mmap threshold first (see settle_allocator)",
    )
    ap.add_argument("--_rss-child", nargs=2, help=argparse.SUPPRESS)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args._rss_child:
        _rss_child(args._rss_child[0], args._rss_child[1], args.quick, args.cold_allocator)
        return 0
    if args.check:
        return agreement.check(CASES, ["hand"] + [m for m in args.methods if m != "hand"])

    if not args.cold_allocator:
        harness.settle_allocator()
    repeats = args.repeats or (2 if args.quick else 7)
    memory = args.memory or ("tracemalloc" if args.quick else "both")
    cases = [_scaled(CASE_BY_NAME[name], args.quick) for name in (args.cases or CASE_BY_NAME)]
    methods = args.methods
    command = f"python benchmarks/{os.path.basename(__file__)} " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    report.print_header(command, args.cold_allocator, repeats)

    r = report.Results()
    t_start = time.perf_counter()
    for case in cases:
        X, y = make_data(case.sizes[0], case.n)
        epochs = {}
        for m in methods:
            key = (case.name, m)
            r.times[key] = r.traced[key] = r.rss[key] = r.faults[key] = None
            try:
                epochs[m] = METHODS[m][1](case, X, y)
            except Unavailable as e:
                r.skipped[m] = str(e)
            except NotApplicable as e:
                r.not_applicable.append(f"{METHODS[m][0]} at {case.name} ({e})")
        bests, faults, spreads = harness.time_round_robin(epochs, repeats)
        for m, best in bests.items():
            key = (case.name, m)
            r.times[key], r.faults[key], r.spread[key] = best, faults[m], spreads[m]
            print(
                f"  [{case.name} n={case.n}] {METHODS[m][0]}: {report.fmt_s(best)} s",
                file=sys.stderr,
                flush=True,
            )
        for m, epoch in epochs.items():
            if memory in ("both", "tracemalloc"):
                r.traced[case.name, m] = harness.traced_peak(epoch)
            if memory in ("both", "rss"):
                r.rss[case.name, m] = _rss_growth(case, m, args.quick, args.cold_allocator)
        del epochs
        gc.collect()

    report.print_tables(r, cases, methods, memory)
    print(f"\n(total benchmark time {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
