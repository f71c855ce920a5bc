"""Data augmentation against scarce data: digits with 10% of its training part.

Each seed splits digits as ``deltaprop train`` does (20% stratified test part), keeps a
stratified 10% of the training part (144 rows) to train on and the other 90% (1293 rows) as
validation data, standardizes the features per pixel on the 144 rows (the recipe's
Preprocessor does the same), and trains the recipe's default MLP (64-256-128-10 ReLU) or, with
``--model cnn`` (needs ``nn.Conv2d``), a small CNN on the 1x8x8 images (conv 3x3 1->16, ReLU,
max pool 2, conv 3x3 16->32, ReLU, flatten, linear 512->10), with Adam (lr 1e-3, batch 32)
for a fixed number of epochs, without and with each augmentation (``fit(...,
augment=Augment(names, image_shape=(1, 8, 8)))``, default parameters). The same seed gives
every setting the same split and the same initial weights.

Printed per setting: the test accuracy (median over the seeds, and the range), and the
learning-curve gap at the end: accuracy on the 144 training rows (clean, in eval mode)
minus accuracy on the validation rows, median over the seeds.

    python benchmarks/augment.py [--model mlp|cnn] [--epochs 200] [--seeds 0,1,2,3,4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deltaprop as dp
from deltaprop import nn
from deltaprop.data import Augment, Standardizer, load_dataset, train_test_split

SETTINGS = (
    "none",
    "shift",
    "rotate",
    "cutout",
    "flip",
    "noise",
    "neighbours",
    "mixup",
    "rotate,noise",
    "shift,noise,mixup",
)

MODELS = {
    "mlp": "MLP 64-256-128-10 relu",
    "cnn": "CNN conv16-pool-conv32-linear on 1x8x8",
}


def split(seed: int):
    """(train, validation, test) parts, each (X float32 standardized, y), for one seed."""
    ds = load_dataset("digits")
    X_tr, X_te, y_tr, y_te = train_test_split(ds.X, ds.y, test_size=0.2, seed=seed)
    X_small, X_val, y_small, y_val = train_test_split(X_tr, y_tr, test_size=0.9, seed=seed)
    scaler = Standardizer().fit(X_small)
    parts = [(X_small, y_small), (X_val, y_val), (X_te, y_te)]
    return [(scaler.transform(X).astype(np.float32), y) for X, y in parts]


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
    )  # fmt: skip


def train(setting: str, seed: int, epochs: int, parts, model_name: str) -> dict[str, float]:
    if model_name == "cnn":  # the images as (N, 1, 8, 8)
        parts = [(X.reshape(-1, 1, 8, 8), y) for X, y in parts]
    (X, y), (Xv, yv), (Xt, yt) = parts
    dp.seed(seed)
    model = cnn() if model_name == "cnn" else nn.mlp(64, (256, 128), 10, "relu")
    trainer = dp.Trainer(model, loss="cross_entropy", optimizer="adam", lr=1e-3)
    augment = None if setting == "none" else Augment(setting, image_shape=(1, 8, 8))
    trainer.fit(X, y, epochs=epochs, batch_size=32, seed=seed, augment=augment, verbose=False)
    train_acc = trainer.evaluate(X, y)["accuracy"]
    val_acc = trainer.evaluate(Xv, yv)["accuracy"]
    return {"test": trainer.evaluate(Xt, yt)["accuracy"], "gap": train_acc - val_acc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--settings", default=";".join(SETTINGS), help="separated by ';'")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    splits = {seed: split(seed) for seed in seeds}
    n_train, n_val, n_test = (len(p[1]) for p in splits[seeds[0]])
    print(
        f"digits, {n_train} training rows (10% of the training part), {n_val} validation, "
        f"{n_test} test; {MODELS[args.model]}, adam 1e-3, batch 32, {args.epochs} epochs; "
        f"seeds {args.seeds}"
    )
    print()
    print("| augment | test accuracy, median | min - max | gap (train - val), median |")
    print("|---|--:|--:|--:|")
    start = time.perf_counter()
    for setting in args.settings.split(";"):
        runs = [train(setting, seed, args.epochs, splits[seed], args.model) for seed in seeds]
        test = np.array([r["test"] for r in runs])
        gap = np.median([r["gap"] for r in runs])
        print(
            f"| {setting} | {np.median(test):.4f} | {test.min():.4f} - {test.max():.4f} "
            f"| {gap:.4f} |",
            flush=True,
        )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
