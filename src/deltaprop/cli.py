"""The ``deltaprop`` command: parses arguments and settings, then calls the public API.

Settings come from three layers, later ones winning: built-in defaults, a TOML file
(``--config``), command-line flags. Every failure the user can cause ends as one line on stderr
and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, DeltapropError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# name -> (default, type, help). One table serves argparse, the TOML reader and the help text.
TRAIN_OPTIONS: dict[str, tuple[Any, type, str]] = {
    "dataset": ("digits", str, "a built-in data set name or a .csv/.npz file"),
    "label": (None, str, "label column (CSV) or array name (NPZ) (default: last column / 'y')"),
    "hidden": ("256,128", str, "hidden layer widths, comma separated ('' for none)"),
    "activation": ("relu", str, "hidden activation: relu, leaky_relu, elu, gelu, sigmoid, tanh"),
    "init": ("default", str, "weight init: default (PyTorch's U(+-1/sqrt(fan_in))), zeros, ones, "
             "constant:V, normal, xavier, he, lecun, ..."),
    "optimizer": ("sgd", str, "sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"),
    "lr": (None, float, "learning rate (default: 0.1 for sgd, 0.05 momentum/nesterov, 0.001 "
           "adam/adamw/rmsprop, 0.01 adagrad)"),
    "momentum": (None, float, "momentum of sgd/momentum/nesterov/rmsprop (default: the "
                 "optimizer's own: 0 for sgd and rmsprop, 0.9 for momentum and nesterov)"),
    "weight_decay": (0.0, float, "weight decay (decoupled for adamw, an L2 gradient term else)"),
    "schedule": ("none", str, "learning-rate schedule: none, step, multistep, exponential, "
                 "cosine, cosine-restarts, plateau"),
    "warmup": (0, int, "epochs of linear learning-rate warm-up before the schedule"),
    "epochs": (30, int, "passes over the training set"),
    "descent": ("minibatch", str, "batch (1 update/epoch), stochastic (1 per example), minibatch"),
    "batch_size": (32, int, "examples per update with --descent minibatch"),
    "l1": (0.0, float, "L1 penalty on the weights, added to the loss"),
    "l2": (0.0, float, "L2 penalty on the weights, added to the loss"),
    "dropout": (0.0, float, "dropout probability after each hidden layer"),
    "batchnorm": (False, bool, "batch normalization after each hidden Linear"),
    "layernorm": (False, bool, "layer normalization after each hidden Linear"),
    "clip_norm": (None, float, "clip the global gradient norm to this value (default: off)"),
    "clip_value": (None, float, "clip each gradient entry to [-V, V] (default: off)"),
    "early_stopping": (None, int, "stop after this many epochs without val_loss improvement, "
                       "keeping the best weights (default: off)"),
    "validation_split": (None, float, "fraction of the training part held out for validation "
                         "(default: none; 0.1 when early stopping or plateau needs it)"),
    "cv": (None, int, "k-fold cross-validation on the training part before the final fit"),
    "log_every": (5, int, "print a progress line every N epochs"),
    "seed": (0, int, "random seed: the same seed gives the same run, bit for bit"),
    "test_size": (0.2, float, "fraction held out (stratified) for the final test"),
    "drop_last": (False, bool, "skip each epoch's last minibatch when it is short"),
    "checkpoint": (None, str, "write the full training state here after every epoch, "
                   "atomically (default: none)"),
    "resume": (None, str, "continue from a --checkpoint file; the same path for both "
               "restarts a crashed run until it completes (default: none)"),
    "save": (None, str, "write the trained model to this .safetensors file (default: none)"),
    "metrics_out": (None, str, "write the final metrics to this JSON file (default: none)"),
    "plot": (None, str, "write learning_curves.png (and decision_boundary.png for 2-feature "
             "data) into this folder, created if missing; needs deltaprop[plot] (default: none)"),
}  # fmt: skip


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """--config and one flag per TRAIN_OPTIONS entry (shared by train and diagnose)."""
    parser.add_argument(
        "--config", metavar="PATH", help="TOML file with the same keys as the flags"
    )
    for name, (default, kind, text) in TRAIN_OPTIONS.items():
        # default=None so that we can tell a flag that was given from one that was not.
        shown = text if default is None or "(default" in text else f"{text} (default: {default})"
        if kind is bool:
            parser.add_argument(flag(name), dest=name, default=None, help=shown,
                                action=argparse.BooleanOptionalAction)  # fmt: skip
        else:
            parser.add_argument(flag(name), dest=name, type=kind, default=None,
                                metavar=name.upper(), help=shown)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltaprop",
        description="Train neural networks with a backpropagation engine you can read and check.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser(
        "train",
        help="train an MLP (default: on the bundled digits data set) and report test accuracy",
        description="Train an MLP classifier (or regressor) and report test metrics. "
        "Settings: defaults < --config TOML file < flags.",
    )
    add_train_options(train)
    train.add_argument(
        "--quiet", action="store_true", help="print only the final line (no per-epoch lines)"
    )
    predict = sub.add_parser(
        "predict",
        help="predict with a saved model on a .csv/.npz file or built-in data set",
        description="Load a model saved by `deltaprop train --save` and predict.",
    )
    predict.add_argument("model", help="a .safetensors file written by deltaprop")
    predict.add_argument("--dataset", required=True, help="data to predict (name or file path)")
    predict.add_argument("--label", default=None, help="label column/array of the file, if any")
    predict.add_argument("--out", default=None, help="write predicted classes to this CSV file")
    memo = sub.add_parser(
        "memo-demo",
        help="count and time the chain rule path by path against reverse mode (memoization)",
        description="Multiplications of the path-by-path chain rule vs backprop for MLPs of "
        "growing depth; naive gradients checked against the engine's and timed.",
    )
    memo.add_argument("--max-depth", type=int, default=6, help="deepest MLP (default: 6)")
    memo.add_argument("--width", type=int, default=None, help="one width (default: 2, 3 and 4)")
    memo.add_argument("--activation", default="tanh", help="tanh or sigmoid (default: tanh)")
    memo.add_argument("--plot", metavar="PATH", default=None, help="write a PNG against depth")
    memo.add_argument(
        "--checkpoint", action="store_true", help="also measure nn.Checkpointed's memory and time"
    )
    diagnose = sub.add_parser(
        "diagnose",
        help="train with a gradient monitor and print a verdict with remedies",
        description="Train as `deltaprop train` does (same options) with a GradientMonitor; "
        "print the step-0 init check, the per-layer table, the verdict and remedies.",
    )
    add_train_options(diagnose)
    visualize = sub.add_parser(
        "visualize",
        help="write an HTML page stepping through backprop on one example",
        description="Build a small MLP, run one example (the data set's first row, "
        "standardized) forward and backward with the engine, and write a self-contained HTML "
        "page that steps through the forward pass, the loss, the backward pass and the update.",
    )
    visualize.add_argument("--hidden", default="4,3", help="hidden widths (default: 4,3)")
    visualize.add_argument("--activation", default="sigmoid", help="default: sigmoid")
    visualize.add_argument("--dataset", default="iris", help="name or file (default: iris)")
    visualize.add_argument("--lr", type=float, default=0.1, help="SGD step (default: 0.1)")
    visualize.add_argument("--seed", type=int, default=0, help="initial weights (default: 0)")
    visualize.add_argument("--out", default="backprop.html", help="default: backprop.html")
    return parser


def run_visualize(args: argparse.Namespace) -> None:
    from . import backend, nn
    from .cli_train import build_mlp, parse_hidden
    from .data import Standardizer, load_dataset
    from .viz.backprop_page import MAX_UNITS, backprop_page

    hidden = parse_hidden(args.hidden)
    if any(h > MAX_UNITS for h in hidden):
        raise ConfigError(f"--hidden: at most {MAX_UNITS} units per layer, got {args.hidden!r}")
    nn.get_activation(args.activation)
    if not args.lr > 0:
        raise ConfigError(f"--lr: expected a positive number, got {args.lr!r}")
    check_writable(args.out, "--out")
    backend.seed(args.seed)
    try:
        ds = load_dataset(args.dataset, seed=args.seed)
    except DeltapropError as exc:
        raise type(exc)(f"--dataset: {exc}") from None
    if ds.X.shape[1] > MAX_UNITS:
        raise ConfigError(
            f"--dataset: {ds.name} has {ds.X.shape[1]} features; the page draws at most "
            f"{MAX_UNITS} inputs (try iris, moons, xor or a small CSV)"
        )
    classification = ds.task == "classification"
    X = Standardizer().fit_transform(ds.X).astype(np.float64)
    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    model = build_mlp(X.shape[1], hidden, n_out, args.activation, "default")
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    try:
        loss = "cross_entropy" if classification else "mse"
        data = backprop_page(model, X[0], ds.y[0], args.out, loss=loss, lr=args.lr)
    except DeltapropError as exc:
        raise type(exc)(f"--hidden/--dataset: {exc}") from None
    sizes = "-".join(map(str, data["sizes"]))
    print(f"wrote {args.out}: a {sizes} network, {len(data['steps'])} steps, "
          f"loss {data['loss']:.4g}")  # fmt: skip


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
    if isinstance(raw.get("train"), dict):  # allow a [train] table or top-level keys
        raw = raw["train"]
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in TRAIN_OPTIONS:
            allowed = ", ".join(TRAIN_OPTIONS)
            raise ConfigError(f"--config: unknown key {key!r} in {path}; allowed keys: {allowed}")
        settings[name] = _coerce(name, value, f"--config key {key!r}")
    return settings


def _coerce(name: str, value: Any, where: str) -> Any:
    default, kind, _ = TRAIN_OPTIONS[name]
    if value is None:
        return None
    if name == "hidden" and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def resolve_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults, the TOML file and the flags (flags win)."""
    settings = {name: spec[0] for name, spec in TRAIN_OPTIONS.items()}
    if args.config:
        settings.update(_read_config(args.config))
    for name in TRAIN_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    return settings


def run_predict(args: argparse.Namespace) -> None:
    import numpy as np

    from . import io
    from .data import Standardizer, load_dataset
    from .train import Trainer

    model, metadata = io.load(args.model, return_metadata=True)
    info = metadata.get("deltaprop_cli", {})
    ds = load_dataset(args.dataset, label=args.label)
    X = ds.X
    if "standardizer" in info:
        X = Standardizer.from_state(info["standardizer"]).transform(X)
    trainer = Trainer(model, loss="cross_entropy" if info.get("task") != "regression" else "mse",
                      optimizer=None, metrics=[])  # fmt: skip
    if info.get("task") == "regression":
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


def check_writable(path: str | None, option: str) -> None:
    """Fail before training, not after it, when an output file cannot be written."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"{option}: folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{option}: folder is not writable: {folder}")


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"--metrics-out: cannot write {path}: {exc.strerror}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "train":
            # Overflow on the way to a NaN loss is reported by the Trainer in one line, with
            # the epoch and step; NumPy's own warnings would only repeat it as noise.
            from .cli_train import run_train

            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run_train(resolve_settings(args), quiet=args.quiet)
        elif args.command == "diagnose":
            from .cli_diagnose import run_diagnose

            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run_diagnose(resolve_settings(args))
        elif args.command == "predict":
            run_predict(args)
        elif args.command == "memo-demo":
            from .diagnostics.memo import run_demo

            check_writable(args.plot, "--plot")
            run_demo(args.max_depth, args.width, args.plot, args.checkpoint, args.activation)
        elif args.command == "visualize":
            run_visualize(args)
    except DeltapropError as exc:
        print(f"deltaprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deltaprop: interrupted", file=sys.stderr)
        return 130
    return 0
