"""What watching gradients costs: one epoch of the 784-256-128-10, batch-128 MLP (SGD, float32)
with and without ``dp.callbacks.GradientMonitor`` (issue 4's goal: <= 10% more with it on,
nothing with it off, since it is only a callback).

``python benchmarks/monitor.py [--rows 8192] [--repeats 5]`` prints a table; epochs of the two
runs are interleaved so that load from other processes hits both alike; the minimum counts.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from harness import settle_allocator
from workload import make_data  # the MLP benchmark's data

import deltaprop as dp
from deltaprop import nn


def make_trainer(monitor: bool) -> dp.Trainer:
    dp.seed(0)
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    callbacks = [dp.callbacks.GradientMonitor()] if monitor else []
    optimizer = dp.optim.SGD(model.parameters(), lr=0.01)
    return dp.Trainer(model, "cross_entropy", optimizer, callbacks=callbacks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settle_allocator()  # both runs in the same allocator regime (see benchmarks/mlp.py)
    X, y = make_data(784, args.rows)
    X = X.astype(np.float32)
    trainers = {"off": make_trainer(False), "on": make_trainer(True)}
    times: dict[str, list[float]] = {"off": [], "on": []}
    for trainer in trainers.values():
        trainer.fit(X, y, epochs=1, batch_size=128, verbose=False, seed=0)  # warm-up
    for r in range(args.repeats):
        for key in ("off", "on") if r % 2 == 0 else ("on", "off"):
            start = time.perf_counter()
            trainers[key].fit(X, y, epochs=1, batch_size=128, verbose=False, seed=0)
            times[key].append(time.perf_counter() - start)
    print(f"784-256-128-10, batch 128, {args.rows} rows, {args.repeats} epochs each\n")
    print("| GradientMonitor | min s / epoch | median s / epoch | all epochs |")
    print("|---|--:|--:|---|")
    for key, label in (("off", "off"), ("on", "on (defaults)")):
        runs = " ".join(f"{t:.4f}" for t in times[key])
        print(f"| {label} | {min(times[key]):.4f} | {np.median(times[key]):.4f} | {runs} |")
    for name, stat in (("min", min), ("median", np.median)):
        ratio = stat(times["on"]) / stat(times["off"]) - 1
        print(f"\noverhead ({name}): {100 * ratio:+.1f}%  (goal: <= +10%)")
    print()
    print(trainers["on"].callbacks.callbacks[0].table())


if __name__ == "__main__":
    main()
