"""Descent modes and optimizers side by side: ``python examples/descent_and_optimizers.py``.

The same 64-64-10 ReLU MLP, from the same initial weights (``dp.seed``), learns the bundled
digits data set (standardized, stratified 80/20 split) in two experiments, 30 epochs per run:

1. the three descent modes under plain SGD: ``"batch"`` (one update per epoch on all 1437
   training rows), ``"stochastic"`` (one update per row) and ``"minibatch"`` (one per 32 rows);
2. seven optimizers with minibatch descent: SGD, SGD with momentum, Nesterov momentum, Adam,
   AdamW, RMSprop and Adagrad.

Each writes a PNG into ``--out`` (default: the current folder), ``descent.png`` and
``optimizers.png``: validation loss and accuracy against epochs (left; epoch 0 is the
untrained model, the same for every run) and against cumulative training time (right, log
scale, from ``history.history["epoch_seconds"]``, which includes each epoch's validation pass).
A table of the final validation accuracy, the number of updates and the seconds of each run
is printed. The whole script takes a few seconds on two cores.

What to look for:

- batch: the smoothest curves but one update per epoch, so after 30 epochs it is still
  behind even with a learning rate 100 times stochastic's; its epochs are the cheapest (one
  big matrix product per layer), so per second it keeps up with minibatch on a data set
  this small;
- stochastic: 1437 small, noisy updates per epoch, so it learns the most per epoch (its
  first epoch does about as much as batch's first ten), but each epoch costs about 20 times
  minibatch's: 1437 tiny steps, each dominated by Python overhead rather than arithmetic;
- minibatch: most of stochastic's progress per epoch at a fraction of its time, the usual
  compromise and deltaprop's default;
- momentum and Nesterov (lr 0.01, an effective step of lr / (1 - 0.9) = 0.1) move faster than
  plain SGD at the same cost per step; the two curves nearly coincide;
- Adam, AdamW and RMSprop (lr 1e-2) drop fastest in the first epochs; then their validation
  loss turns up while accuracy stays flat: the model grows overconfident on the examples it
  gets wrong, the first sign of overfitting. AdamW's weight decay damps that rise a little;
- Adagrad's steps shrink as squared gradients pile up: a fast start, then a flat tail;
- the adaptive optimizers cost a little more per step (more arithmetic per parameter).

Timings come from this run: another busy process on the machine distorts them (BLAS threads
are especially sensitive to sharing cores), so rerun before reading much into small gaps.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deltaprop as dp  # noqa: E402
from deltaprop import nn, optim  # noqa: E402
from deltaprop.data import Standardizer, load_dataset, train_test_split  # noqa: E402

SEED = 0
EPOCHS = 30

# (label, descent, batch_size, learning rate): plain SGD, with a learning rate that suits each.
DESCENTS = [
    ("batch (lr 1.0)", "batch", None, 1.0),
    ("stochastic (lr 0.01)", "stochastic", None, 0.01),
    ("minibatch 32 (lr 0.05)", "minibatch", 32, 0.05),
]
# (label, name for optim.get_optimizer, learning rate), all minibatch 32.
OPTIMIZERS = [
    ("SGD (lr 0.05)", "sgd", 0.05),
    ("momentum 0.9 (lr 0.01)", "momentum", 0.01),
    ("Nesterov 0.9 (lr 0.01)", "nesterov", 0.01),
    ("Adam (lr 1e-2)", "adam", 1e-2),
    ("AdamW (lr 1e-2, wd 0.01)", "adamw", 1e-2),
    ("RMSprop (lr 1e-2)", "rmsprop", 1e-2),
    ("Adagrad (lr 0.05)", "adagrad", 0.05),
]


def train(data, optimizer_name, lr, descent, batch_size) -> dict:
    """Train a fresh model; its history, with the untrained model's validation scores first."""
    Xtr, Xval, ytr, yval = data
    dp.seed(SEED)  # the same initial weights for every run
    model = nn.Sequential(nn.Linear(64, 64, init="he"), nn.ReLU(), nn.Linear(64, 10))
    opt = optim.get_optimizer(optimizer_name, model.parameters(), lr=lr)
    trainer = dp.Trainer(model, loss=nn.CrossEntropyLoss(), optimizer=opt, metrics=["accuracy"])
    start = trainer.evaluate(Xval, yval)
    t0 = time.perf_counter()
    history = trainer.fit(
        Xtr, ytr, epochs=EPOCHS, descent=descent, batch_size=batch_size,
        validation_data=(Xval, yval), seed=SEED, verbose=False,
    ).history  # fmt: skip
    history["seconds"] = time.perf_counter() - t0
    n = len(Xtr)
    per_epoch = {"batch": 1, "stochastic": n, "minibatch": -(-n // (batch_size or n))}
    history["updates"] = EPOCHS * per_epoch[descent]
    history["val_loss"].insert(0, start["loss"])
    history["val_accuracy"].insert(0, start["accuracy"])
    return history


def plot(runs: dict[str, dict], title: str, path: Path) -> None:
    """Validation loss (top) and accuracy (bottom) against epochs (left) and seconds (right)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharey="row")
    for label, h in runs.items():
        epochs = np.arange(len(h["val_loss"]))  # 0 = before training
        seconds = np.cumsum(h["epoch_seconds"])  # at the end of epochs 1, 2, ...
        for row, key in enumerate(("val_loss", "val_accuracy")):
            (line,) = axes[row, 0].plot(epochs, h[key], marker=".", label=label)
            axes[row, 1].plot(seconds, h[key][1:], marker=".", color=line.get_color())
    axes[0, 0].set_ylabel("validation loss (log scale)")
    axes[0, 0].set_yscale("log")
    axes[1, 0].set_ylabel("validation accuracy")
    axes[1, 0].set_ylim(0.8, 1.0)
    axes[1, 0].set_xlabel("epoch")
    axes[1, 1].set_xlabel("cumulative seconds (log scale)")
    for ax in axes[:, 1]:
        ax.set_xscale("log")  # the runs' costs differ by orders of magnitude
    axes[0, 0].legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(runs: dict[str, dict]) -> None:
    print(f"  {'method':<26} {'updates':>7} {'val acc':>8} {'val loss':>9} {'seconds':>8}")
    for label, h in runs.items():
        print(
            f"  {label:<26} {h['updates']:>7} {h['val_accuracy'][-1]:>8.3f} "
            f"{h['val_loss'][-1]:>9.4f} {h['seconds']:>8.2f}"
        )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("."), help="folder for the PNGs")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    ds = load_dataset("digits")
    Xtr, Xval, ytr, yval = train_test_split(ds.X, ds.y, test_size=0.2, stratify=True, seed=SEED)
    scaler = Standardizer()
    data = (scaler.fit_transform(Xtr), scaler.transform(Xval), ytr, yval)

    print(f"1. descent modes, plain SGD, {EPOCHS} epochs")
    runs = {label: train(data, "sgd", lr, d, bs) for label, d, bs, lr in DESCENTS}
    report(runs)
    plot(runs, "Descent modes (plain SGD, digits, 64-64-10 MLP)", args.out / "descent.png")

    print(f"2. optimizers, minibatch 32, {EPOCHS} epochs")
    runs = {label: train(data, name, lr, "minibatch", 32) for label, name, lr in OPTIMIZERS}
    report(runs)
    plot(runs, "Optimizers (minibatch 32, digits, 64-64-10 MLP)", args.out / "optimizers.png")
    print(f"plots: {args.out / 'descent.png'}, {args.out / 'optimizers.png'}")


if __name__ == "__main__":
    main()
