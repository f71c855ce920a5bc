"""``deltaprop predict``: load a model saved by ``deltaprop train --save``, prepare the data as
training did (columns by name, the training classes, the saved scaling), print (or write) the
predictions with a header and class names, and score them when the file has labels."""

from __future__ import annotations

import argparse
import csv
import io

import numpy as np

from ..errors import ConfigError, DeltapropError
from ..io import atomic_write
from ..recipe import Prediction, predict_file
from ..recipe.outputs import check_distinct
from ..recipe.validate import CHECKS
from .options import check_writable

SHOWN_ROWS = 20  # rows printed without --out


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "predict",
        help="predict with a saved model on a .csv/.npz file or built-in data set",
        description="Load a model saved by `deltaprop train --save` and predict. A CSV file's "
        "columns are taken by name; its label column (the training one), if present, is "
        "scored.",
    )
    parser.add_argument("model", help="a .safetensors file written by deltaprop")
    parser.add_argument("--dataset", required=True, help="data to predict (name or file path)")
    parser.add_argument("--label", default=None,
                        help="label array of an .npz file (a CSV's label column is the "
                        "training one, saved with the model)")  # fmt: skip
    parser.add_argument(
        "--delimiter",
        default=None,
        help="CSV field separator (default: the training one, else ',')",
    )
    parser.add_argument(
        "--out", default=None, help="write the predictions to this CSV file (a header, class names)"
    )
    parser.add_argument(
        "--proba", action="store_true", help="add one probability column per class (classification)"
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> None:
    if args.out:  # before the model is even read: a bad --out is known now
        check_writable(args.out, "--out")
        check_distinct({"--out": args.out}, {"model": args.model, "--dataset": args.dataset})
    delimiter = CHECKS["delimiter"](args.delimiter, "--delimiter")
    pred = predict_file(args.model, args.dataset, delimiter=delimiter, label=args.label)
    if args.proba and pred.proba is None:
        raise ConfigError("--proba: expected a classification model, got a regression one")
    header, rows = table(pred, args.proba)
    if args.out:
        write_csv(args.out, header, rows)
        print(f"wrote {pred.n} predictions to {args.out}")
    else:
        print(",".join(header))
        for row in rows[:SHOWN_ROWS]:
            print(",".join(row))
        if pred.n > SHOWN_ROWS:
            print(f"... {pred.n - SHOWN_ROWS} more rows not printed (use --out FILE for all)")
    if pred.metrics:
        scores = "  ".join(f"{k} {v:.4f}" for k, v in pred.metrics.items())
        print(f"{scores} on {pred.n} rows")


def table(pred: Prediction, proba: bool) -> tuple[list[str], list[list[str]]]:
    """The predictions as CSV text: a header (the label's name, or ``prediction``; with
    ``proba`` one ``proba_<class>`` column per class) and one row per example."""
    name = pred.label or "prediction"
    if pred.task == "classification":
        header = [name] + ([f"proba_{c}" for c in pred.class_names or []] if proba else [])
        rows = [[str(v)] for v in pred.values]
        if proba and pred.proba is not None:
            rows = [r + [f"{p:.6g}" for p in ps] for r, ps in zip(rows, pred.proba)]
        return header, rows
    values = np.asarray(pred.values).reshape(pred.n, -1)
    header = [name] if values.shape[1] == 1 else [f"{name}_{j}" for j in range(values.shape[1])]
    return header, [[f"{v:.6g}" for v in row] for row in values]


def write_csv(path: str, header: list[str], rows: list[list[str]]) -> None:
    """The table as one CSV file, written atomically: a failed write leaves no partial file
    (and an existing file as it was); ConfigError naming ``--out``."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        atomic_write(path, text.getvalue().encode("utf-8"))
    except DeltapropError as exc:  # exc names the path and the reason
        raise ConfigError(f"--out: {exc}") from None
