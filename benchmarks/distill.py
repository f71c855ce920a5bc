"""Knowledge distillation on digits: a 32-unit student from a 512-256 teacher.

Each seed splits digits as ``deltaprop train`` does (20% stratified test part; features
standardized per pixel on the training part) and trains, with Adam (lr 1e-3, batch 32):

- the teacher, an MLP 64-512-256-10 (20 epochs);
- the student alone, an MLP 64-32-10 on the labels (``epochs`` epochs);
- the student distilled from the teacher (``deltaprop.distill.Distiller``, temperature 4,
  alpha 0.5, and alpha 0.9; the same epochs, the same initial weights as the student alone);
- scikit-learn's ``MLPClassifier((32,))`` on the same rows (what a user would otherwise pick
  for a small, fast model).

Printed: test accuracy, median over the seeds and range; the weights of each model; and the
time to predict 10,000 rows (digits' test rows repeated; ``Trainer.predict``, median of 5
calls, one process on a shared machine: compare the rows with each other, not with other
machines).

    python benchmarks/distill.py [--seeds 0,1,2,3,4] [--epochs 40] [--fraction 1.0]

``--fraction`` keeps that share of the training rows (stratified), for the scarce-data case.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import deltaprop as dp
from deltaprop import nn
from deltaprop.data import Standardizer, load_dataset, train_test_split
from deltaprop.distill import Distiller


def data(seed: int, fraction: float):
    ds = load_dataset("digits")
    X_tr, X_te, y_tr, y_te = train_test_split(ds.X, ds.y, test_size=0.2, stratify=True, seed=seed)
    if fraction < 1.0:
        X_tr, _, y_tr, _ = train_test_split(X_tr, y_tr, test_size=1 - fraction, stratify=True,
                                            seed=seed)  # fmt: skip
    scaler = Standardizer().fit(X_tr)
    return scaler.transform(X_tr), y_tr, scaler.transform(X_te), y_te


def predict_seconds(model, X) -> float:
    rows = np.resize(X, (10_000, X.shape[1])).astype(np.float32)
    trainer = dp.Trainer(model, "cross_entropy", None)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        trainer.predict(rows)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_seed(seed: int, epochs: int, fraction: float) -> dict[str, tuple[float, float, int]]:
    """{method: (test accuracy, seconds per 10k predictions, weights)}."""
    X, y, Xt, yt = data(seed, fraction)
    out = {}
    dp.seed(seed)
    teacher = nn.mlp(64, (512, 256), 10)
    dp.Trainer(teacher, "cross_entropy", "adam", lr=1e-3).fit(X, y, epochs=20, seed=seed,
                                                              verbose=False)  # fmt: skip

    def score(name, trainer):
        acc = float(trainer.evaluate(Xt, yt)["accuracy"])
        model = trainer.model
        out[name] = (acc, predict_seconds(model, Xt), model.num_parameters())

    score("teacher 512-256", dp.Trainer(teacher, "cross_entropy", None))
    dp.seed(seed + 1)
    student = nn.mlp(64, (32,), 10)
    initial = student.state_dict()
    alone = dp.Trainer(student, "cross_entropy", "adam", lr=1e-3)
    alone.fit(X, y, epochs=epochs, seed=seed, verbose=False)
    score("student 32 alone", alone)
    for alpha in (0.5, 0.9):
        student = nn.mlp(64, (32,), 10)
        student.load_state_dict(initial)
        d = Distiller(student, teacher, temperature=4.0, alpha=alpha, lr=1e-3)
        d.fit(X, y, epochs=epochs, seed=seed, verbose=False)
        score(f"student 32 distilled (T 4, alpha {alpha})", d)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32,), max_iter=epochs, random_state=seed).fit(X, y)
    rows = np.resize(Xt, (10_000, Xt.shape[1]))
    t0 = time.perf_counter()
    mlp.predict(rows)
    weights = sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
    out["sklearn MLPClassifier(32)"] = (float(mlp.score(Xt, yt)), time.perf_counter() - t0,
                                        weights)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=40, help="the students' epochs")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of training rows")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[tuple[float, float, int]]] = {}
    start = time.perf_counter()
    for seed in seeds:
        for name, value in run_seed(seed, args.epochs, args.fraction).items():
            results.setdefault(name, []).append(value)
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1][0]:.3f}" for k, v in results.items()),
              flush=True)  # fmt: skip
    print(f"\ndigits, {args.fraction:g} of the training part, students {args.epochs} epochs, "
          f"seeds {args.seeds} ({time.perf_counter() - start:.0f} s)\n")  # fmt: skip
    print("| model | weights | test accuracy, median | min - max | predict 10k rows |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        acc = [v[0] for v in values]
        ms = 1000 * float(np.median([v[1] for v in values]))
        print(f"| {name} | {values[0][2]:,} | {np.median(acc):.3f} | {min(acc):.3f} - "
              f"{max(acc):.3f} | {ms:.1f} ms |")  # fmt: skip


if __name__ == "__main__":
    main()
