"""The compiled step against eager deltaprop, the hand-written NumPy loop and PyTorch CPU.

    python benchmarks/compiled.py                 # the six MLP cases, 7 interleaved rounds
    python benchmarks/compiled.py --quick         # a quarter of the data, 3 rounds
    python benchmarks/compiled.py --cases 64-32-10/b1 --rounds 5 --profile

Methods, each one epoch of the MLP benchmark's workload (benchmarks/workload.py: the same
initial weights, data, batches and recipe): ``compiled`` (``dp.compile_step`` over the plain
loop's model, loss and optimizer), ``eager`` (the plain deltaprop loop), ``hand`` (the hand
NumPy loop, no bookkeeping), ``torch`` (PyTorch CPU eager) and ``torch.compile`` (where it
works here). Every round times one epoch of each method in turn, in this one process, so
load from other processes hits them alike; the table gives the median over rounds of each
per-round ratio, and the minimum seconds per epoch.

``sgemm limit``: the time of the epoch's matrix products alone (the forward x W, and the
backward g W^T and x^T g of every layer, timed as bare ``np.dot`` calls into preallocated
outputs): what no NumPy engine can beat. ``--profile`` prints where a compiled step's time
goes, kernel by kernel (forward, backward, update), averaged over an epoch's steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402
import workload as wl  # noqa: E402
from dp_methods import dp_model, dp_optimizer, setup_dp_loop  # noqa: E402
from hand_loops import setup_hand  # noqa: E402
from libraries import setup_torch  # noqa: E402
from mlp import CASES  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import backend, nn  # noqa: E402


def setup_compiled(case: wl.Case, X, y):
    """The plain loop's model, loss and optimizer through ``dp.compile_step``."""
    model = dp_model(case)
    model.train()
    step = dp.compile_step(model, nn.CrossEntropyLoss(), dp_optimizer(case, model.parameters()))
    B = case.batch
    dp.seed(wl.SEED + 2)
    rng = backend.rng()

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = X[perm], y[perm]
        for i in range(0, n, B):
            step(Xs[i : i + B], ys[i : i + B])

    epoch.step = step
    return epoch


def setup_torch_compile(case: wl.Case, X, y):
    """PyTorch eager's model wrapped in ``torch.compile`` (Unavailable where it cannot run);
    the optimizer step stays eager, as in PyTorch's own training examples."""
    try:
        import torch
    except ImportError as e:
        raise wl.Unavailable("torch is not installed") from e
    torch.set_num_threads(os.cpu_count() or 1)
    layers = []
    n_layers = len(case.sizes) - 1
    for k, (w, b) in enumerate(wl.init_weights(case.sizes)):
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < n_layers - 1:
            if case.bn_dropout:
                layers.append(torch.nn.BatchNorm1d(w.shape[1], eps=wl.BN_EPS))
            layers.append(torch.nn.ReLU())
            if case.bn_dropout:
                layers.append(torch.nn.Dropout(wl.DROPOUT))
    model = torch.nn.Sequential(*layers)
    try:
        compiled = torch.compile(model)
    except Exception as e:  # pragma: no cover - depends on the machine
        raise wl.Unavailable(f"torch.compile does not run here: {type(e).__name__}") from e
    loss_fn = torch.nn.CrossEntropyLoss()
    if case.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=wl.ADAM_LR, betas=wl.ADAM_BETAS,
                               eps=wl.ADAM_EPS)  # fmt: skip
    else:
        opt = torch.optim.SGD(model.parameters(), lr=wl.LR)
    rng = np.random.default_rng(wl.SEED + 2)
    B = case.batch

    def epoch():
        n = len(X)
        perm = rng.permutation(n)
        Xs, ys = torch.from_numpy(X[perm]), torch.from_numpy(y[perm])
        for i in range(0, n, B):
            opt.zero_grad()
            loss_fn(compiled(Xs[i : i + B]), ys[i : i + B]).backward()
            opt.step()

    return epoch


def sgemm_limit(case: wl.Case, n: int) -> float:
    """Seconds per epoch of the step's matrix products alone (see the module doc)."""
    rng = np.random.default_rng(0)
    B = case.batch
    calls = []
    sizes = case.sizes
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        x = rng.standard_normal((B, i), dtype=np.float32)
        w = rng.standard_normal((i, o), dtype=np.float32)
        g = rng.standard_normal((B, o), dtype=np.float32)
        calls.append((x, w, np.empty((B, o), np.float32)))  # forward
        calls.append((x.T, g, np.empty((i, o), np.float32)))  # weight gradient
        if k:
            calls.append((g, w.T, np.empty((B, i), np.float32)))  # input gradient
    steps = max(n // B, 1)
    reps = max(min(steps, 2000), 20)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            for a, b, out in calls:
                np.dot(a, b, out=out)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * steps


def profile(case: wl.Case, X, y) -> str:
    """Where a compiled step's time goes: mean µs per phase over one epoch's steps, and the
    replayed source itself (each line one NumPy call)."""
    epoch = setup_compiled(case, X, y)
    epoch()  # records, then replays
    step = epoch.step
    B = case.batch
    spent = {"forward + loss": 0.0, "backward": 0.0, "update": 0.0, "the step's own checks": 0.0}
    steps = 0
    clock = time.perf_counter
    for i in range(0, len(X) - B + 1, B):
        xb, yb = X[i : i + B], y[i : i + B]
        t0 = clock()
        xb, yb = step._check_batch(xb, yb)
        t1 = clock()
        step.forward(xb, yb)
        t2 = clock()
        step.backward()
        t3 = clock()
        step.update()
        t4 = clock()
        for key, dt in zip(spent, (t2 - t1, t3 - t2, t4 - t3, t1 - t0)):
            spent[key] += dt
        steps += 1
    lines = [f"where a compiled step's time goes, {case.name} (µs per step, {steps} steps):"]
    lines += [f"  {key:24s} {1e6 * dt / steps:8.1f}" for key, dt in spent.items()]
    lines.append(f"  (update: {type(step.optimizer).__name__}; the replayed source:)")
    lines += ["    " + line for line in step.source().splitlines()]
    return "\n".join(lines)


METHODS = {
    "compiled": setup_compiled,
    "eager": setup_dp_loop,
    "hand": lambda c, X, y: setup_hand(c, X, y, False),
    "torch": setup_torch,
    "torch.compile": setup_torch_compile,
}


def run_case(case: wl.Case, rounds: int) -> dict:
    X, y = wl.make_data(case.sizes[0], case.n)
    epochs, skipped = {}, {}
    for name, setup in METHODS.items():
        try:
            epochs[name] = setup(case, X, y)
        except (wl.Unavailable, wl.NotApplicable) as e:
            skipped[name] = str(e)
    for epoch in epochs.values():
        epoch()  # warm-up (and the compiled step's recording)
    times = {m: [] for m in epochs}
    names = list(epochs)
    for r in range(rounds):
        # the order turns each round: a method that leaves threads spinning (PyTorch's
        # OpenMP, OpenBLAS's) or caches cold must not always precede the same next one
        for m in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            epochs[m]()
            times[m].append(time.perf_counter() - t0)

    def ratio(a, b):
        if a not in times or b not in times:
            return None
        return statistics.median(x / z for x, z in zip(times[a], times[b]))

    return {
        "case": case.name,
        "steps": -(-case.n // case.batch),
        "min": {m: min(t) for m, t in times.items()},
        "compiled/hand": ratio("compiled", "hand"),
        "compiled/eager": ratio("compiled", "eager"),
        "compiled/torch": ratio("compiled", "torch"),
        "compiled/torch.compile": ratio("compiled", "torch.compile"),
        "torch/compiled": ratio("torch", "compiled"),
        "sgemm": sgemm_limit(case, case.n),
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (7)")
    parser.add_argument("--cases", nargs="*", default=None, help="case names (default: all)")
    parser.add_argument("--profile", action="store_true", help="per-kernel times per case")
    parser.add_argument(
        "--methods", nargs="*", default=None, help="a subset of " + str(list(METHODS))
    )
    args = parser.parse_args(argv)
    harness.settle_allocator()
    if args.methods:
        for m in [m for m in METHODS if m not in args.methods]:
            del METHODS[m]
    rounds = args.rounds or (3 if args.quick else 7)
    cases = [c for c in CASES if args.cases is None or c.name in args.cases]
    if args.quick:
        cases = [replace(c, n=max(c.n // 4, c.batch)) for c in cases]
    print(f"rounds {rounds}, {os.cpu_count()} CPUs; seconds per epoch (min over rounds), "
          "ratios: median over rounds")  # fmt: skip
    head = ("| case | steps | compiled | eager | hand | torch | torch.compile | sgemm limit "
            "| compiled/hand | compiled/eager | compiled/torch | compiled/torch.compile "
            "| torch/compiled |")  # fmt: skip
    print(head)
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    skipped = {}
    for case in cases:
        r = run_case(case, rounds)
        skipped.update({f"{k} ({case.name})": v for k, v in r["skipped"].items()})

        def cell(m, r=r):
            return f"{r['min'][m]:.3f}" if m in r["min"] else "n/a"

        def x(key, r=r):
            return "n/a" if r[key] is None else f"{r[key]:.2f}x"

        print(f"| {r['case']} | {r['steps']} | {cell('compiled')} | {cell('eager')} | "
              f"{cell('hand')} | {cell('torch')} | {cell('torch.compile')} | {r['sgemm']:.3f} | "
              f"{x('compiled/hand')} | {x('compiled/eager')} | {x('compiled/torch')} | "
              f"{x('compiled/torch.compile')} | {x('torch/compiled')} |",
              flush=True)  # fmt: skip
    for k, v in skipped.items():
        print(f"skipped {k}: {v}")
    if args.profile:
        for case in cases:
            X, y = wl.make_data(case.sizes[0], case.n)
            print(profile(case, X, y))
    return 0


if __name__ == "__main__":
    sys.exit(main())
