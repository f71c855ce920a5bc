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
import time
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
    "hidden": ("128,64", str, "hidden layer widths, comma separated ('' for none)"),
    "activation": ("relu", str, "hidden activation: relu, leaky_relu, elu, gelu, sigmoid, tanh"),
    "init": ("he", str, "weight init: zeros, ones, constant:V, normal, xavier, he, lecun, ..."),
    "lr": (0.1, float, "learning rate of W -= lr * dL/dW"),
    "epochs": (30, int, "passes over the training set"),
    "descent": ("minibatch", str, "batch (1 update/epoch), stochastic (1 per example), minibatch"),
    "batch_size": (32, int, "examples per update with --descent minibatch"),
    "log_every": (5, int, "print a progress line every N epochs"),
    "seed": (0, int, "random seed: the same seed gives the same run, bit for bit"),
    "test_size": (0.2, float, "fraction held out (stratified) for the final test"),
    "save": (None, str, "write the trained model to this .safetensors file (default: none)"),
    "metrics_out": (None, str, "write the final metrics to this JSON file (default: none)"),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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
    train.add_argument("--config", metavar="PATH", help="TOML file with the same keys as the flags")
    for name, (default, kind, text) in TRAIN_OPTIONS.items():
        # default=None so that we can tell a flag that was given from one that was not.
        train.add_argument(
            _flag(name), dest=name, type=kind, default=None, metavar=name.upper(),
            help=text if default is None else f"{text} (default: {default})",
        )  # fmt: skip
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
    return parser


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
    if not isinstance(value, kind) or isinstance(value, bool):
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


def parse_hidden(text: str) -> list[int]:
    """'128,64' -> [128, 64]; '' -> [] (a linear model)."""
    text = text.strip()
    if not text:
        return []
    widths = []
    for part in text.split(","):
        try:
            width = int(part)
        except ValueError:
            width = 0
        if width < 1:
            raise ConfigError(
                f"--hidden: expected positive integers separated by commas, got {text!r}"
            )
        widths.append(width)
    return widths


def validate_settings(settings: dict[str, Any]) -> None:
    """Check every value before any work starts, naming the flag in the message."""
    from . import nn
    from .data import DESCENTS

    def need(ok: bool, name: str, expected: str) -> None:
        if not ok:
            raise ConfigError(f"{_flag(name)}: expected {expected}, got {settings[name]!r}")

    need(settings["lr"] > 0, "lr", "a positive number")
    need(settings["epochs"] >= 1, "epochs", "an integer >= 1")
    need(settings["batch_size"] >= 1, "batch_size", "an integer >= 1")
    need(settings["log_every"] >= 1, "log_every", "an integer >= 1")
    need(settings["seed"] >= 0, "seed", "a non-negative integer")
    need(0 < settings["test_size"] < 1, "test_size", "a fraction between 0 and 1")
    need(settings["descent"] in DESCENTS, "descent", f"one of {', '.join(DESCENTS)}")
    activation = settings["activation"].strip().lower().replace("-", "_")
    need(activation in nn.ACTIVATIONS, "activation", f"one of {', '.join(nn.ACTIVATIONS)}")
    try:
        nn.init.canonical_name(settings["init"])
    except ConfigError:
        need(False, "init", f"one of {', '.join(nn.INITIALIZERS)} or constant:<number>")
    parse_hidden(settings["hidden"])


def run_train(settings: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """Train as the settings say; return the final metrics (also what --metrics-out writes)."""
    from . import backend, io, nn, optim
    from .data import Standardizer, load_dataset, train_test_split
    from .train import Trainer

    start = time.perf_counter()
    validate_settings(settings)
    hidden = parse_hidden(settings["hidden"])
    for name in ("save", "metrics_out"):
        _check_writable(settings[name], _flag(name))
    backend.seed(settings["seed"])
    try:
        ds = load_dataset(settings["dataset"], label=settings["label"], seed=settings["seed"])
    except DeltapropError as exc:
        raise type(exc)(f"--dataset: {exc}") from None
    classification = ds.task == "classification"
    X_train, X_test, y_train, y_test = train_test_split(
        ds.X, ds.y, test_size=settings["test_size"], stratify=classification, seed=settings["seed"]
    )
    scaler = Standardizer()
    X_train = scaler.fit_transform(X_train)
    X_test = scaler.transform(X_test)

    n_out = ds.n_classes if classification else (1 if ds.y.ndim == 1 else ds.y.shape[1])
    model = build_mlp(X_train.shape[1], hidden, n_out, settings["activation"], settings["init"])
    loss = nn.CrossEntropyLoss() if classification else nn.MSELoss()
    metrics = ["accuracy"] if classification else []
    trainer = Trainer(model, loss=loss, optimizer=optim.SGD(model.parameters(), lr=settings["lr"]),
                      metrics=metrics)  # fmt: skip
    history = trainer.fit(
        X_train, y_train, epochs=settings["epochs"], descent=settings["descent"],
        batch_size=settings["batch_size"], log_every=settings["log_every"], seed=settings["seed"],
        verbose=not quiet,
    )  # fmt: skip
    test = trainer.evaluate(X_test, y_test)
    result: dict[str, Any] = {"dataset": ds.name, "test_loss": float(test["loss"])}
    if classification:
        result["test_accuracy"] = float(test["accuracy"])
        result["train_accuracy"] = float(history.history["accuracy"][-1])
    result["train_loss"] = float(history.history["loss"][-1])
    result["epochs"] = len(history.history["loss"])
    result["seconds"] = round(time.perf_counter() - start, 3)

    if settings["save"]:
        meta = {
            "dataset": ds.name,
            "task": ds.task,
            "feature_names": list(ds.feature_names),
            "target_names": list(ds.target_names) if ds.target_names is not None else None,
            "standardizer": scaler.state(),
            "settings": settings,
        }
        io.save(model, settings["save"], metadata={"deltaprop_cli": meta})
    if settings["metrics_out"]:
        _write_json(settings["metrics_out"], result)
    summary = f"test_loss {result['test_loss']:.4f}"
    if classification:
        summary = f"test_accuracy {result['test_accuracy']:.4f}  " + summary
    print(f"{ds.name}: {summary}  ({result['epochs']} epochs, {result['seconds']:.1f} s)")
    if settings["save"]:
        print(f"saved model to {settings['save']}")
    return result


def build_mlp(n_in: int, hidden: Sequence[int], n_out: int, activation: str, init: str):
    """Linear -> activation -> ... -> Linear, the output layer without activation (logits)."""
    from . import nn

    act_name = activation.lower()
    nn.get_activation(act_name)  # fail early with the list of names
    layers = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h, init=init), nn.get_activation(act_name)]
        width = h
    layers.append(nn.Linear(width, n_out, init=init))
    return nn.Sequential(*layers)


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
        _check_writable(args.out, "--out")
        np.savetxt(args.out, preds, delimiter=",", fmt="%d" if preds.dtype.kind in "iu" else "%.6g")
        print(f"wrote {len(preds)} predictions to {args.out}")
    else:
        for value in preds[:20]:
            print(value)


def _check_writable(path: str | None, option: str) -> None:
    """Fail before training, not after it, when an output file cannot be written."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"{option}: folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{option}: folder is not writable: {folder}")


def _write_json(path: str, data: dict[str, Any]) -> None:
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
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                run_train(resolve_settings(args), quiet=args.quiet)
        elif args.command == "predict":
            run_predict(args)
    except DeltapropError as exc:
        print(f"deltaprop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deltaprop: interrupted", file=sys.stderr)
        return 130
    return 0
