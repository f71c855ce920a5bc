"""Regression on a user's CSV: `deltaprop train` defaults against scikit-learn's MLPRegressor.

Writes scikit-learn's diabetes set (targets as "151.0": whole numbers written as floats, the
case that was once taken for 346 classes) and a generated Friedman #1 set as CSV files, runs
the recipe with its defaults (and with lr 0.01) on seeds 0-2, and fits MLPRegressor (its
defaults, max_iter=500, random_state 0-2, mean) on the same split and the same standardized
features and targets. Prints test R^2 per set and seed.

    python benchmarks/regression.py
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.neural_network import MLPRegressor

import deltaprop as dp
from deltaprop import report
from deltaprop.recipe import load_data


def write_sets(folder: Path) -> list[Path]:
    d = load_diabetes()
    diabetes = folder / "diabetes.csv"
    lines = [",".join(d.feature_names) + ",target"]
    lines += [",".join(f"{v:.6f}" for v in x) + f",{t:.1f}" for x, t in zip(d.data, d.target)]
    diabetes.write_text("\n".join(lines) + "\n")
    X, y = make_friedman1(n_samples=500, noise=1.0, random_state=0)
    friedman = folder / "friedman.csv"
    lines = [",".join(f"x{i}" for i in range(10)) + ",y"]
    lines += [",".join(f"{v:.5f}" for v in x) + f",{t:.4f}" for x, t in zip(X, y)]
    friedman.write_text("\n".join(lines) + "\n")
    return [diabetes, friedman]


def r2(pred: np.ndarray, true: np.ndarray) -> float:
    return float(1 - ((pred - true) ** 2).sum() / ((true - true.mean()) ** 2).sum())


def main() -> None:
    warnings.simplefilter("ignore")  # MLPRegressor's convergence warnings
    print("| data | seed | deltaprop defaults | deltaprop lr 0.01 | MLPRegressor |")
    print("|---|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in write_sets(Path(tmp)):
            for seed in (0, 1, 2):
                ours = []
                for lr in (None, 0.01):
                    with report.quiet():
                        result = dp.run(dp.Recipe(dataset=str(path), seed=seed, lr=lr),
                                        verbose=False, log=lambda line: None)  # fmt: skip
                    ours.append(result.metrics["test_r2"])
                data = load_data(dp.Recipe(dataset=str(path), seed=seed))
                y_train, y_test = data.y_train.ravel(), data.y_test.ravel()
                theirs = [
                    r2(MLPRegressor(random_state=rs, max_iter=500)
                       .fit(data.X_train, y_train).predict(data.X_test), y_test)
                    for rs in (0, 1, 2)
                ]  # fmt: skip
                print(f"| {path.name} | {seed} | {ours[0]:.3f} | {ours[1]:.3f} | "
                      f"{np.mean(theirs):.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
