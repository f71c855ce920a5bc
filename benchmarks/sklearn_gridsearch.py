"""A grid search in scikit-learn: DeltapropClassifier against MLPClassifier on digits.

Both run inside the same ``Pipeline(StandardScaler(), classifier)`` and the same
``GridSearchCV`` (``--cv`` stratified folds, accuracy, refit on the whole training part) over
the same 4 settings: hidden layers (64) or (256, 128), times Adam's learning rate 1e-3 or
1e-2; ReLU, minibatches of 32, ``--epochs`` passes (MLPClassifier: ``max_iter``, with its
early stop on a stalled training loss turned off by ``n_iter_no_change=max_iter`` so that
both train the same number of epochs), and their default L2 penalty otherwise (deltaprop
none, MLPClassifier ``alpha=1e-4``). Data: digits split 80/20, stratified, seed 0.

Printed per library: the wall time and the CPU time (all threads) of ``GridSearchCV.fit``
(4 settings x cv folds, plus the refit), the best setting, its mean cross-validated accuracy
and the accuracy of the refitted pipeline on the test part; with ``--repeat n`` the times
are the medians of n runs.

    python benchmarks/sklearn_gridsearch.py [--cv 3] [--epochs 30] [--repeat 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from deltaprop.sklearn import DeltapropClassifier

HIDDEN = ((64,), (256, 128))
LRS = (1e-3, 1e-2)


def searches(epochs: int, cv: int) -> dict[str, GridSearchCV]:
    """The two grid searches, over the same settings in each library's own words."""
    ours = Pipeline([("scale", StandardScaler()), ("clf", DeltapropClassifier(
        optimizer="adam", epochs=epochs, batch_size=32, activation="relu", seed=0))])  # fmt: skip
    theirs = Pipeline([("scale", StandardScaler()), ("clf", MLPClassifier(
        solver="adam", max_iter=epochs, n_iter_no_change=epochs, batch_size=32,
        activation="relu", random_state=0))])  # fmt: skip
    grid_ours = {"clf__hidden": [",".join(map(str, h)) for h in HIDDEN], "clf__lr": list(LRS)}
    grid_theirs = {"clf__hidden_layer_sizes": list(HIDDEN), "clf__learning_rate_init": list(LRS)}
    return {
        "deltaprop DeltapropClassifier": GridSearchCV(ours, grid_ours, cv=cv),
        "scikit-learn MLPClassifier": GridSearchCV(theirs, grid_theirs, cv=cv),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    settings = len(HIDDEN) * len(LRS)
    print(f"digits: {len(y_train)} train / {len(y_test)} test rows; GridSearchCV over "
          f"{settings} settings x {args.cv} folds + refit, {args.epochs} epochs")  # fmt: skip
    print("| library | wall time (s) | CPU time (s) | best setting | mean CV accuracy | "
          "test accuracy |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in searches(args.epochs, args.cv):
        times, cpu = [], []
        for _ in range(args.repeat):
            search = searches(args.epochs, args.cv)[name]
            with warnings.catch_warnings():  # MLPClassifier: "max_iter reached" by design
                warnings.simplefilter("ignore", ConvergenceWarning)
                start, start_cpu = time.perf_counter(), time.process_time()
                search.fit(X_train, y_train)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        best = ", ".join(f"{k.removeprefix('clf__')}={v}" for k, v in search.best_params_.items())
        wall, used = statistics.median(times), statistics.median(cpu)
        print(f"| {name} | {wall:.1f} | {used:.1f} | {best} | {search.best_score_:.4f} | "
              f"{search.score(X_test, y_test):.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
