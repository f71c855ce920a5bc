"""The body of ``deltaprop diagnose``: train as ``deltaprop train`` would, with a
GradientMonitor, then print the step-0 init check, the per-layer table, the verdict, the
findings and the remedies as ready-to-run flags."""

from __future__ import annotations

import os
from typing import Any

from .cli import flag
from .errors import ConfigError, TrainingError

_CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")


def run_diagnose(settings: dict[str, Any]) -> dict[str, Any]:
    from . import backend, viz
    from .cli_train import (
        _check_plot_dir,
        _make_trainer,
        parse_hidden,
        prepare_data,
        validate_settings,
    )
    from .diagnostics.doctor import diagnose, remedy_flags
    from .diagnostics.initcheck import init_check
    from .train.callbacks.gradient_monitor import GradientMonitor

    settings = dict(settings)
    validate_settings(settings)
    for name in ("cv", "checkpoint", "resume", "save", "metrics_out"):
        if settings[name] is not None:
            raise ConfigError(f"{flag(name)}: not supported by diagnose (use train)")
    if settings["validation_split"] is None:
        settings["validation_split"] = 0.1  # the learning-curve verdict needs val loss
    hidden = parse_hidden(settings["hidden"])
    if settings["plot"]:
        _check_plot_dir(settings["plot"])
    backend.seed(settings["seed"])
    data = prepare_data(settings)
    classification, n_out = data.classification, data.n_out
    X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
    trainer = _make_trainer(settings, X_train.shape[1], hidden, n_out, classification)
    probe = slice(0, min(256, len(X_train)))
    report = init_check(trainer.model, X_train[probe], y_train[probe], trainer.loss)
    print(report.text())
    monitor = GradientMonitor(X=X_train[probe], y=y_train[probe])
    monitor.set_trainer(trainer)
    trainer.callbacks.append(monitor)
    trainer.stop_on_nan = True
    error = None
    try:
        history = trainer.fit(
            X_train, y_train, epochs=settings["epochs"], descent=settings["descent"],
            batch_size=settings["batch_size"], log_every=settings["log_every"],
            seed=settings["seed"], validation_split=settings["validation_split"],
            drop_last=settings["drop_last"], verbose=False,
        )  # fmt: skip
    except TrainingError as exc:
        error, history = exc, trainer.history
    error = error or getattr(trainer, "nan_error", None)
    print(monitor.table())
    verdict = diagnose(history, settings, init_report=report, error=error)
    result: dict[str, Any] = {"verdict": verdict}
    if error is None:
        test = trainer.evaluate(X_test, y_test)
        result.update({k: float(v) for k, v in test.items()})
        print("  ".join(f"test_{k} {float(v):.4f}" for k, v in test.items()))
    word = {"vanishing": "vanishing gradients", "exploding": "exploding gradients",
            "dead_units": "dead units", "lr_too_high": "learning rate too high"}  # fmt: skip
    print(f"verdict: {word.get(verdict.status, verdict.status)}")
    for line in verdict.findings:
        print(f"  - {line}")
    if verdict.remedies:
        print("remedies:")
    for i, (text, change) in enumerate(verdict.remedies, 1):
        flags = remedy_flags(change)
        print(f"{i}. {flags}  ({text})" if flags else f"{i}. ({text})")
    if settings["plot"] and history is not None and history.history.get("loss"):
        curves = {k: v for k, v in history.history.items() if k in _CURVES}
        viz.plot_history(curves, os.path.join(settings["plot"], "learning_curves.png"))
        viz.plot_gradient_flow(
            monitor.series("grad_norm"), os.path.join(settings["plot"], "gradient_flow.png")
        )
        print(f"wrote learning_curves.png, gradient_flow.png to {settings['plot']}")
    return result
