"""Hyperparameter search, measured (issue 11, item 6).

1. Trials to a target: on digits, a 6-parameter space (optimizer, lr, layers, units,
   activation, dropout), how many trials random search and Bayesian search (TPE) need before
   a trial's validation accuracy reaches ``--target``; the median over ``--seeds`` study seeds
   (every trial trains with the same recipe seed; only the sampler's seed changes). A study
   that never reaches the target within ``--max-trials`` counts as max-trials + 1 (shown
   ">N"). Goal: Bayesian needs <= 50% of random's trials.
2. Workers: wall time of the same ``--parallel-trials`` random trials (``--parallel-epochs``
   each) with 2 worker processes and with 1 (each with one BLAS thread), as trials per
   minute; also from the first trial's start to the last one's end (without the second
   process's start-up: imports and data). Goal: >= 1.6x.

    python benchmarks/tune.py                      # the full run for BENCHMARKS.md
    python benchmarks/tune.py --seeds 5 --max-trials 20 --epochs 5 --parallel-trials 12

Prints a Markdown table. No pruning (trials are counted whole).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import deltaprop as dp
from deltaprop import tune

SPACE = tune.Space(
    optimizer=tune.Choice(["sgd", "momentum", "adam"]),
    lr=tune.LogFloat(1e-4, 1.0),
    layers=tune.Int(1, 3),
    units=tune.Int(16, 256, log=True),
    activation=tune.Choice(["relu", "tanh"]),
    dropout=tune.Float(0.0, 0.5),
)


def trials_to_target(strategy: str, seed: int, args: argparse.Namespace) -> int:
    """The number (from 1) of the first trial reaching the target; max_trials + 1 if none."""
    recipe = dp.Recipe(dataset="digits", epochs=args.epochs)
    with tempfile.TemporaryDirectory() as out:
        result = tune.run_study(
            recipe, SPACE, strategy=strategy, trials=args.max_trials, out=out, pruner="none",
            study_seed=seed, startup_trials=args.startup, retrain=False, log=None,
        )  # fmt: skip
        for t in sorted(result.study.trials, key=lambda t: t.number):
            if t.value is not None and t.value >= args.target:
                return t.number + 1
    return args.max_trials + 1


def wall_time(workers: int, args: argparse.Namespace) -> tuple[float, float]:
    """(wall seconds of the whole study, seconds from the first trial's start to the last
    one's end): the second leaves out starting the worker processes."""
    recipe = dp.Recipe(dataset="digits", epochs=args.parallel_epochs)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = tune.run_study(
            recipe, SPACE, strategy="random", trials=args.parallel_trials, workers=workers,
            out=out, pruner="none", study_seed=0, retrain=False, log=None,
        )  # fmt: skip
        wall = time.perf_counter() - start
        trials = result.study.trials
        first = min(t.datetime_start for t in trials)
        last = max(t.datetime_complete for t in trials)
        return wall, (last - first).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--max-trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.975)
    parser.add_argument("--startup", type=int, default=5, help="TPE's random startup trials")
    parser.add_argument("--parallel-trials", type=int, default=20)
    parser.add_argument("--parallel-epochs", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"digits, {args.epochs} epochs per trial, target val_accuracy {args.target}, "
          f"up to {args.max_trials} trials, seeds 0..{args.seeds - 1}\n")  # fmt: skip
    medians = {}
    print("| strategy | trials to target, per seed | median |")
    print("|---|---|---|")
    for strategy in ("random", "bayes"):
        counts = [trials_to_target(strategy, s, args) for s in range(args.seeds)]
        medians[strategy] = statistics.median(counts)
        shown = ", ".join(f">{args.max_trials}" if c > args.max_trials else str(c) for c in counts)
        print(f"| {strategy} | {shown} | {medians[strategy]:g} |", flush=True)
    ratio = medians["bayes"] / medians["random"]
    print(f"\nbayes / random: {ratio:.2f} (goal <= 0.50: {'met' if ratio <= 0.5 else 'missed'})\n")
    one, two = wall_time(1, args), wall_time(2, args)
    n = args.parallel_trials
    print(f"{n} random trials, {args.parallel_epochs} epochs each\n")
    print("| workers | wall s | trials/min | trials/min, first start to last end |")
    print("|---|---|---|---|")
    for workers, (wall, busy) in ((1, one), (2, two)):
        print(f"| {workers} | {wall:.1f} | {60 * n / wall:.1f} | {60 * n / busy:.1f} |")
    speedup, steady = one[0] / two[0], one[1] / two[1]
    verdict = "met" if speedup >= 1.6 else "missed"
    print(
        f"\n2 workers / 1: {speedup:.2f}x wall, {steady:.2f}x from the first trial's start to "
        f"the last one's end (goal >= 1.6x: {verdict})"
    )


if __name__ == "__main__":
    main()
