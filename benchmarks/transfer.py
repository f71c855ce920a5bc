"""Transfer learning with scarce labels: digits 0-4 teach a network that learns 5-9 from 25.

Each seed splits digits as ``deltaprop train`` does (20% stratified test part). The
network (the recipe's default MLP, 64-256-128-5 ReLU, features scaled by 1/16) is pretrained
on every training row of classes 0-4 (Adam, lr 1e-3, batch 32, 20 epochs). The target task is
classes 5-9 (labels 0-4) with 5 labelled rows per class, drawn from the training part by the
seed; the score is the accuracy on every test row of classes 5-9. Every fine-tuning run is
full-batch Adam on the 25 rows for 100 epochs, with a fresh output layer (``nn.replace_head``).

Methods, on the same 25 rows:

- ``scratch``: the same network from random weights (lr 1e-3);
- ``fine-tune all``: from the pretrained weights, every layer trains (lr 1e-3);
- ``frozen body``: only the new output layer trains (``model.freeze()`` + ``unfreeze(-1)``,
  lr 1e-2);
- ``head 1e-2 / body 1e-3``: two parameter groups (discriminative fine-tuning);
- ``gradual unfreezing``: the GradualUnfreezing callback, a layer every 20 epochs (lr 1e-3);
- scikit-learn's ``MLPClassifier`` (the same widths, Adam, early stopping off) and
  ``LogisticRegression`` on the 25 rows: what a user would otherwise reach for;
- ``probe``: scikit-learn's ``LogisticRegression`` on the pretrained network's last hidden
  layer (128 ReLU features) instead of the pixels: how much the 0-4 features say about 5-9.

Printed: test accuracy per method, median over the seeds and the range.

    python benchmarks/transfer.py [--seeds 0,1,2,3,4] [--labels 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import deltaprop as dp
from deltaprop import nn
from deltaprop.callbacks import GradualUnfreezing
from deltaprop.data import load_dataset, train_test_split

HIDDEN = (256, 128)
FINE_EPOCHS = 100


def split(seed: int, labels: int):
    """(pretraining rows and labels, the 25 labelled target rows, the target test rows)."""
    ds = load_dataset("digits")
    X, y = ds.X.astype(np.float32) / 16.0, ds.y
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=True, seed=seed)
    pre = y_tr < 5
    rng = np.random.default_rng(seed)
    picks = np.concatenate(
        [rng.choice(np.flatnonzero(y_tr == c), labels, replace=False) for c in range(5, 10)]
    )
    target = y_te >= 5
    return (
        (X_tr[pre], y_tr[pre]),
        (X_tr[picks], y_tr[picks] - 5),
        (X_te[target], y_te[target] - 5),
    )


def pretrain(X, y, seed: int) -> nn.Sequential:
    dp.seed(seed)
    model = nn.mlp(64, HIDDEN, 5)
    dp.Trainer(model, "cross_entropy", "adam", lr=1e-3).fit(
        X, y, epochs=20, batch_size=32, seed=seed, verbose=False
    )
    return model


def fine_tune(source, how: str, X, y, seed: int) -> nn.Sequential:
    dp.seed(seed + 1000)
    if source is None:
        model, params, lr, callbacks = nn.mlp(64, HIDDEN, 5), None, 1e-3, []
    else:
        model = nn.mlp(64, HIDDEN, 5)
        model.load_state_dict(source.state_dict())
        nn.replace_head(model, 5)
        params, lr, callbacks = None, 1e-3, []
        if how == "frozen body":
            model.freeze().unfreeze(-1)
            lr = 1e-2
        elif how == "head 1e-2 / body 1e-3":
            head = set(map(id, model[-1].parameters()))
            body = [p for p in model.parameters() if id(p) not in head]
            params = [{"params": body, "lr": 1e-3}, {"params": model[-1].parameters(), "lr": 1e-2}]
        elif how == "gradual unfreezing":
            callbacks = [GradualUnfreezing(every=20)]
    opt = dp.optim.Adam(model.parameters() if params is None else params, lr=lr)
    trainer = dp.Trainer(model, "cross_entropy", opt, callbacks=callbacks)
    trainer.fit(X, y, epochs=FINE_EPOCHS, descent="batch", seed=seed, verbose=False)
    return model


def accuracy(model, X, y) -> float:
    return float(dp.Trainer(model, "cross_entropy", None).evaluate(X, y)["accuracy"])


def sklearn_scores(X, y, Xt, yt, seed: int) -> dict[str, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(HIDDEN, max_iter=500, random_state=seed).fit(X, y)
        logreg = LogisticRegression(max_iter=2000).fit(X, y)
    return {
        "sklearn MLPClassifier": float(mlp.score(Xt, yt)),
        "sklearn LogisticRegression": float(logreg.score(Xt, yt)),
    }


def probe(source, X, y, Xt, yt) -> float:
    from sklearn.linear_model import LogisticRegression

    body = source[:-1]  # every layer but the output layer

    def features(A):
        with dp.no_grad():
            return body(dp.tensor(A)).numpy()

    fitted = LogisticRegression(max_iter=3000).fit(features(X), y)
    return float(fitted.score(features(Xt), yt))


METHODS = ("scratch", "fine-tune all", "frozen body", "head 1e-2 / body 1e-3",
           "gradual unfreezing")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--labels", type=int, default=5, help="labelled rows per class")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    scores: dict[str, list[float]] = {}
    start = time.perf_counter()
    for seed in seeds:
        (Xp, yp), (X, y), (Xt, yt) = split(seed, args.labels)
        source = pretrain(Xp, yp, seed)
        for how in METHODS:
            model = fine_tune(None if how == "scratch" else source, how, X, y, seed)
            scores.setdefault(how, []).append(accuracy(model, Xt, yt))
        for name, value in sklearn_scores(X, y, Xt, yt, seed).items():
            scores.setdefault(name, []).append(value)
        scores.setdefault("probe: LogisticRegression on pretrained features", []).append(
            probe(source, X, y, Xt, yt)
        )
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in scores.items()),
              flush=True)  # fmt: skip
    seconds = time.perf_counter() - start
    print(f"\ndigits 5-9 from {5 * args.labels} labels ({args.labels} per class), pretrained on "
          f"0-4; test accuracy over seeds {args.seeds} ({seconds:.0f} s)\n")  # fmt: skip
    print("| method | median | min - max |")
    print("|---|---|---|")
    for name, values in scores.items():
        print(f"| {name} | {np.median(values):.3f} | {min(values):.3f} - {max(values):.3f} |")


if __name__ == "__main__":
    main()
