"""Default learning rates by measurement: the median test accuracy of the CLI's default MLP
(256,128 relu, default init) on the built-in sets, per optimizer, descent mode and learning rate.

``python benchmarks/defaults.py [--epochs 20] [--seeds 3] [--jobs 2]`` prints one row per
(optimizer, descent, lr) with the median test accuracy over the seeds on digits, iris, wine and
breast_cancer and their mean; ``*`` marks the rate with the best mean per (optimizer, descent),
and a last table lists those choices (what ``optim.default_lr(name, descent)`` holds). A run
whose loss became NaN counts as accuracy 0. The candidate rates are multiples of today's
per-name default (``optim.SUGGESTED_LR``) given by ``--factors`` per descent mode.
"""

from __future__ import annotations

import argparse
import os

# One BLAS thread per worker: the workers run side by side, and on a small machine threaded
# BLAS on 32-row matmuls is many times slower than one thread (measured: 7.7 s vs 0.25 s for
# 20 minibatch epochs on digits, 2 cores).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop.errors import TrainingError  # noqa: E402
from deltaprop.optim import SUGGESTED_LR  # noqa: E402

DATASETS = ("digits", "iris", "wine", "breast_cancer")
DESCENTS = ("stochastic", "minibatch", "batch")
# Multiples of the per-name rate tried in each mode: stochastic (batch size 1) is expected to
# want smaller steps than minibatch (32), full batch larger ones.
FACTORS = {
    "stochastic": (1.0, 0.3, 0.1, 0.03),
    "minibatch": (3.0, 1.0, 0.3),
    "batch": (30.0, 10.0, 3.0, 1.0),
}


def one_run(job: tuple[str, str, float, str, int, int]) -> float:
    """Test accuracy of one run (0.0 when it diverged)."""
    optimizer, descent, lr, dataset, seed, epochs = job
    np.seterr(all="ignore")  # a diverging run's overflow is a result here, not news
    recipe = dp.Recipe(dataset=dataset, optimizer=optimizer, lr=lr, descent=descent,
                       epochs=epochs, seed=seed)  # fmt: skip
    try:
        return float(dp.run(recipe, verbose=False).metrics["test_accuracy"])
    except TrainingError:
        return 0.0


def choose(rows: list[tuple]) -> dict[tuple[str, str], float]:
    """Per (optimizer, descent): the rate with the best mean; rates within ``TIE`` of the best
    count as tied, and the middle one of those is taken (the lower of two: away from both
    cliffs, divergence above and too little progress below). In minibatch mode today's rate
    is kept when it is among the tied."""
    out = {}
    for key in dict.fromkeys((o, d) for o, d, *_ in rows):
        cands = [(lr, mean) for o, d, lr, _, mean in rows if (o, d) == key]
        top = max(mean for _, mean in cands)
        tied = sorted(lr for lr, mean in cands if mean >= top - TIE)
        out[key] = tied[(len(tied) - 1) // 2]
        if key[1] == "minibatch" and SUGGESTED_LR[key[0]] in tied:
            out[key] = SUGGESTED_LR[key[0]]  # today's rate, when it ties: no change for nothing
    return out


TIE = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--optimizers", default=",".join(SUGGESTED_LR))
    parser.add_argument("--descents", default=",".join(DESCENTS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    optimizers = args.optimizers.split(",")
    descents = args.descents.split(",")
    datasets = args.datasets.split(",")
    configs = [
        (o, d, float(f"{SUGGESTED_LR[o] * f:.3g}"))
        for o in optimizers
        for d in descents
        for f in FACTORS[d]
    ]
    jobs = [(o, d, lr, ds, s, args.epochs) for o, d, lr in configs for ds in datasets
            for s in range(args.seeds)]  # fmt: skip
    with ProcessPoolExecutor(args.jobs) as pool:
        accs = list(pool.map(one_run, jobs, chunksize=1))
    results = dict(zip(jobs, accs, strict=True))

    print(f"median test accuracy over seeds 0..{args.seeds - 1}, {args.epochs} epochs, "
          "MLP 256,128 relu, test_size 0.2")  # fmt: skip
    head = f"{'optimizer':<10}{'descent':<12}{'lr':>8}" + "".join(f"{d:>15}" for d in datasets)
    print(head + f"{'mean':>9}")
    rows = []
    for o, d, lr in configs:
        meds = [statistics.median(results[(o, d, lr, ds, s, args.epochs)]
                                  for s in range(args.seeds)) for ds in datasets]  # fmt: skip
        mean = sum(meds) / len(meds)
        rows.append((o, d, lr, meds, mean))
    best = choose(rows)
    for o, d, lr, meds, mean in rows:
        mark = "*" if best[(o, d)] == lr else " "
        cells = "".join(f"{m:>15.3f}" for m in meds)
        print(f"{o:<10}{d:<12}{lr:>8g}{cells}{mean:>8.3f}{mark}")
    print()
    print(f"{'optimizer':<10}" + "".join(f"{d:>12}" for d in descents))
    for o in optimizers:
        print(f"{o:<10}" + "".join(f"{best[(o, d)]:>12g}" for d in descents))


if __name__ == "__main__":
    main()
