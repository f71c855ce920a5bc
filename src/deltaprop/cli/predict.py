"""``deltaprop predict``: load a model saved by ``deltaprop train --save``, standardize the data
as training did, and print (or write) the predictions."""

from __future__ import annotations

import argparse

import numpy as np

from .. import io
from ..data import Standardizer, load_dataset
from ..train import Trainer
from .options import check_writable


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict",
        help="predict with a saved model on a .csv/.npz file or built-in data set",
        description="Load a model saved by `deltaprop train --save` and predict.",
    )
    parser.add_argument("model", help="a .safetensors file written by deltaprop")
    parser.add_argument("--dataset", required=True, help="data to predict (name or file path)")
    parser.add_argument("--label", default=None, help="label column/array of the file, if any")
    parser.add_argument("--out", default=None, help="write predicted classes to this CSV file")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    model, metadata = io.load(args.model, return_metadata=True)
    info = metadata.get("deltaprop_cli", {})
    ds = load_dataset(args.dataset, label=args.label)
    X = ds.X
    if "standardizer" in info:
        X = Standardizer.from_state(info["standardizer"]).transform(X)
    regression = info.get("task") == "regression"
    trainer = Trainer(model, loss="mse" if regression else "cross_entropy", optimizer=None,
                      metrics=[])  # fmt: skip
    if regression:
        preds = trainer.predict(X)
    else:
        preds = trainer.predict_classes(X)
        if ds.task == "classification" and len(ds.y):
            print(f"accuracy {float(np.mean(preds == ds.y)):.4f} on {len(ds.y)} rows")
    if args.out:
        check_writable(args.out, "--out")
        np.savetxt(args.out, preds, delimiter=",", fmt="%d" if preds.dtype.kind in "iu" else "%.6g")
        print(f"wrote {len(preds)} predictions to {args.out}")
    else:
        for value in preds[:20]:
            print(value)
