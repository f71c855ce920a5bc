"""The body of ``deltaprop train``: settings (a flat dict, already merged from defaults, TOML
and flags by :mod:`deltaprop.cli`) -> data, model, optimizer, schedule, callbacks -> fit ->
test metrics. Everything is checked before any work starts, naming the flag."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .cli import check_writable, flag, write_json
from .errors import ConfigError, DeltapropError

_MOMENTUM_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop")
_DEFAULT_VALIDATION_SPLIT = 0.1  # used when early stopping or plateau needs a validation score


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
    from . import nn, optim
    from .data import DESCENTS

    def need(ok: bool, name: str, expected: str) -> None:
        if not ok:
            raise ConfigError(f"{flag(name)}: expected {expected}, got {settings[name]!r}")

    def one_of(name: str, allowed: Sequence[str]) -> None:
        value = settings[name].strip().lower().replace("_", "-")
        allowed_norm = [a.replace("_", "-") for a in allowed]
        need(value in allowed_norm, name, f"one of {', '.join(allowed)}")

    need(settings["epochs"] >= 1, "epochs", "an integer >= 1")
    need(settings["batch_size"] >= 1, "batch_size", "an integer >= 1")
    need(settings["log_every"] >= 1, "log_every", "an integer >= 1")
    need(settings["seed"] >= 0, "seed", "a non-negative integer")
    need(0 < settings["test_size"] < 1, "test_size", "a fraction between 0 and 1")
    one_of("descent", DESCENTS)
    one_of("activation", nn.ACTIVATIONS)
    try:
        nn.init.canonical_name(settings["init"])
    except ConfigError:
        need(False, "init", f"one of {', '.join(nn.INITIALIZERS)} or constant:<number>")
    parse_hidden(settings["hidden"])
    one_of("optimizer", list(optim.OPTIMIZERS))
    name = settings["optimizer"].strip().lower()
    if settings["lr"] is not None:
        need(settings["lr"] > 0, "lr", "a positive number")
    if settings["momentum"] is not None:
        need(
            name in _MOMENTUM_OPTIMIZERS and 0 <= settings["momentum"] < 1,
            "momentum",
            f"a value in [0, 1) with --optimizer {' or '.join(_MOMENTUM_OPTIMIZERS)}",
        )
    need(settings["weight_decay"] >= 0, "weight_decay", "a number >= 0")
    one_of("schedule", ("none", *optim.SCHEDULES, "plateau"))
    need(0 <= settings["warmup"] < settings["epochs"], "warmup", "0 <= warmup < --epochs")
    need(settings["l1"] >= 0, "l1", "a number >= 0")
    need(settings["l2"] >= 0, "l2", "a number >= 0")
    need(0 <= settings["dropout"] < 1, "dropout", "a probability in [0, 1)")
    if settings["batchnorm"] and settings["layernorm"]:
        raise ConfigError("--batchnorm and --layernorm: expected at most one of them, got both")
    for name in ("clip_norm", "clip_value"):
        if settings[name] is not None:
            need(settings[name] > 0, name, "a positive number")
    if settings["early_stopping"] is not None:
        need(settings["early_stopping"] >= 1, "early_stopping", "a patience of >= 1 epochs")
    if settings["validation_split"] is not None:
        need(0 < settings["validation_split"] < 1, "validation_split", "a fraction in (0, 1)")
    if settings["cv"] is not None:
        need(settings["cv"] >= 2, "cv", "a number of folds >= 2")


def build_mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    init: str,
    dropout: float = 0.0,
    norm: str | None = None,
):
    """Linear -> [norm] -> activation -> [dropout] per hidden layer, then a Linear to the
    outputs (logits, no activation)."""
    from . import nn

    layers = []
    width = n_in
    for h in hidden:
        layers.append(nn.Linear(width, h, init=init))
        if norm == "batchnorm":
            layers.append(nn.BatchNorm1d(h))
        elif norm == "layernorm":
            layers.append(nn.LayerNorm(h))
        layers.append(nn.get_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_out, init=init))
    return nn.Sequential(*layers)


def _optimizer(settings: dict[str, Any], params):
    from . import optim

    name = settings["optimizer"].strip().lower()
    lr = settings["lr"] if settings["lr"] is not None else optim.SUGGESTED_LR[name]
    options: dict[str, Any] = {}
    if settings["momentum"] is not None:
        options["momentum"] = settings["momentum"]
    if settings["weight_decay"]:
        options["weight_decay"] = settings["weight_decay"]
    return optim.get_optimizer(name, params, lr=lr, **options)


def _schedule(settings: dict[str, Any], optimizer):
    from . import optim

    name = settings["schedule"].strip().lower()
    if name in ("none", "plateau"):
        if settings["warmup"]:  # warm-up alone: linear from 10% to the full rate
            return optim.LinearLR(optimizer, start_factor=0.1, total_iters=settings["warmup"])
        return None
    return optim.get_schedule(name, optimizer, settings["epochs"], warmup=settings["warmup"])


def _callbacks(settings: dict[str, Any], monitor: str) -> list:
    from . import callbacks

    out = []
    if settings["early_stopping"] is not None:
        out.append(
            callbacks.EarlyStopping(
                monitor=monitor, patience=settings["early_stopping"], restore_best_weights=True
            )
        )
    if settings["schedule"].strip().lower() == "plateau":
        patience = max(2, settings["epochs"] // 10)
        out.append(callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.1, patience=patience))
    return out


def _make_trainer(settings, n_in, hidden, n_out, classification, quiet=False):
    """A fresh model, optimizer, schedule and callbacks: one per fit (and per CV fold)."""
    from . import nn
    from .train import Trainer

    norm = "batchnorm" if settings["batchnorm"] else "layernorm" if settings["layernorm"] else None
    model = build_mlp(n_in, hidden, n_out, settings["activation"], settings["init"],
                      dropout=settings["dropout"], norm=norm)  # fmt: skip
    optimizer = _optimizer(settings, model.parameters())
    monitor = "val_loss" if settings["validation_split"] else "loss"
    return Trainer(
        model,
        loss=nn.CrossEntropyLoss() if classification else nn.MSELoss(),
        optimizer=optimizer,
        metrics=["accuracy"] if classification else [],
        callbacks=_callbacks(settings, monitor),
        scheduler=_schedule(settings, optimizer),
        clip_norm=settings["clip_norm"],
        clip_value=settings["clip_value"],
        l1=settings["l1"],
        l2=settings["l2"],
    )


@dataclass
class PreparedData:
    """The data set, its stratified train/test split standardized on the training part."""

    ds: Any
    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    scaler: Any
    classification: bool
    n_out: int


def prepare_data(settings: dict[str, Any]) -> PreparedData:
    """Load ``--dataset``, split off ``--test-size`` (stratified for classification) and fit
    the standardization on the training part only."""
    from .data import Standardizer, load_dataset, train_test_split

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
    return PreparedData(ds, X_train, X_test, y_train, y_test, scaler, classification, n_out)


def run_train(settings: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    """Train as the settings say; return the final metrics (also what --metrics-out writes)."""
    from . import backend, io
    from .train import cross_validate

    start = time.perf_counter()
    settings = dict(settings)
    validate_settings(settings)
    needs_val = settings["early_stopping"] is not None or settings["schedule"] == "plateau"
    if needs_val and settings["validation_split"] is None:
        settings["validation_split"] = _DEFAULT_VALIDATION_SPLIT
    hidden = parse_hidden(settings["hidden"])
    for name in ("save", "metrics_out", "checkpoint"):
        check_writable(settings[name], flag(name))
    if settings.get("plot"):
        _check_plot_dir(settings["plot"])
    backend.seed(settings["seed"])
    data = prepare_data(settings)
    ds, scaler, classification, n_out = data.ds, data.scaler, data.classification, data.n_out
    X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
    n_in = X_train.shape[1]
    fit_kwargs = {
        "epochs": settings["epochs"], "descent": settings["descent"],
        "batch_size": settings["batch_size"], "log_every": settings["log_every"],
        "seed": settings["seed"], "validation_split": settings["validation_split"],
        "drop_last": settings["drop_last"],
    }  # fmt: skip

    result: dict[str, Any] = {"dataset": ds.name}
    if settings["cv"] is not None:
        cv = cross_validate(
            lambda: _make_trainer(settings, n_in, hidden, n_out, classification),
            X_train, y_train, k=settings["cv"], stratified=classification,
            seed=settings["seed"], fit_kwargs={**fit_kwargs, "verbose": False},
        )  # fmt: skip
        result["cv"] = {"k": settings["cv"], "mean": cv["mean"], "std": cv["std"]}
        parts = [f"{k} {v:.4f} ± {cv['std'][k]:.4f}" for k, v in cv["mean"].items()]
        print(f"{settings['cv']}-fold cross-validation: " + "  ".join(parts))

    trainer = _make_trainer(settings, n_in, hidden, n_out, classification)
    history = trainer.fit(X_train, y_train, verbose=not quiet, checkpoint=settings["checkpoint"],
                          resume_from=settings["resume"], **fit_kwargs)  # fmt: skip
    test = trainer.evaluate(X_test, y_test)
    result["test_loss"] = float(test["loss"])
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
        io.save(trainer.model, settings["save"], metadata={"deltaprop_cli": meta})
    if settings["metrics_out"]:
        write_json(settings["metrics_out"], result)
    summary = f"test_loss {result['test_loss']:.4f}"
    if classification:
        summary = f"test_accuracy {result['test_accuracy']:.4f}  " + summary
    print(f"{ds.name}: {summary}  ({result['epochs']} epochs, {result['seconds']:.1f} s)")
    if settings["save"]:
        print(f"saved model to {settings['save']}")
    if settings.get("plot"):
        written = _write_plots(settings["plot"], history, trainer, X_train, y_train,
                               classification)  # fmt: skip
        print(f"wrote {', '.join(written)} to {settings['plot']}")
    return result


def _check_plot_dir(folder: str) -> None:
    """--plot: matplotlib is there and the folder exists (created) and is writable."""
    import os

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("--plot: needs matplotlib: install deltaprop[plot]") from None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--plot: cannot create folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"--plot: folder is not writable: {folder}")


def _write_plots(folder, history, trainer, X, y, classification) -> list[str]:
    """learning_curves.png, and decision_boundary.png for 2-feature classification data (in
    the standardized coordinates the model sees, with the training points)."""
    import os

    from . import viz

    written = ["learning_curves.png"]
    viz.plot_history(history, os.path.join(folder, written[0]))
    if classification and X.ndim == 2 and X.shape[1] == 2:
        written.append("decision_boundary.png")
        viz.plot_decision_boundary(trainer, X, y, os.path.join(folder, written[1]))
    return written
