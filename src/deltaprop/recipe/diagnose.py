"""Diagnose a recipe: ``diagnose_run(recipe)`` trains as :func:`~deltaprop.recipe.run` would,
with a :class:`~deltaprop.callbacks.GradientMonitor`, and returns the step-0 init check, the
monitor (its per-layer table), the doctor's :class:`~deltaprop.diagnostics.Verdict` (remedies
as changes to the recipe) and the test metrics; it writes learning_curves.png and
gradient_flow.png into ``recipe.plot`` when set. Nothing is printed.

A diverging run is a finding, not an error: the verdict says so and ``test`` is None.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import backend, viz
from ..diagnostics import Verdict, diagnose, init_check
from ..diagnostics.initcheck import InitCheck
from ..diagnostics.monitor import GradientMonitor
from ..errors import ConfigError, TrainingError
from ..train import Trainer
from ..train.callbacks import History
from .build import RunData, build_trainer, check_tracking, fit_kwargs, load_data
from .outputs import check_plot_dir
from .spec import Recipe
from .synthetic import training_rows

#: Keys diagnose cannot honour (it trains once, writes no model, metrics or checkpoint).
UNSUPPORTED = ("cv", "checkpoint", "resume", "save", "metrics_out")
PROBE_ROWS = 256  # rows of the training part the init check and the monitor's probe use
_CURVES = ("loss", "val_loss", "accuracy", "val_accuracy")


@dataclass
class DiagnoseResult:
    """What :func:`diagnose_run` found. ``recipe``: the recipe as run (with its validation
    split); ``history`` may be partial when training diverged (``error`` then holds the
    TrainingError and ``test`` is None); ``test``: ``{"loss": ..., "accuracy": ...}`` on the test
    part; ``plots``: the PNG files written into ``recipe.plot``."""

    recipe: Recipe
    trainer: Trainer
    data: RunData
    init_report: InitCheck
    monitor: GradientMonitor
    history: History | None
    verdict: Verdict
    error: TrainingError | None = None
    test: dict[str, float] | None = None
    plots: list[str] = field(default_factory=list)


def diagnose_run(recipe: Recipe, log: Callable[[str], None] | None = None) -> DiagnoseResult:
    """Train ``recipe`` with a gradient monitor and diagnose it (see the module docstring).

    ``validation_split`` defaults to 0.1 here: the learning-curve verdict needs a val loss.
    ``log`` receives the init check's text before training starts (None: not shown).

    Raises:
        ConfigError: a key diagnose does not support (``cv``, ``checkpoint``, ``resume``,
            ``save``, ``metrics_out``, ``semi``, ``distributed``), a ``device`` that is not
            there, a bad data file or plot folder.
    """
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"recipe: expected a Recipe, got {type(recipe).__name__}")
    for name in UNSUPPORTED:
        if getattr(recipe, name) is not None:
            raise ConfigError(f"{recipe.show(name)}: not supported by diagnose (use train)")
    if recipe.semi != "none":  # it would train on the labeled rows alone, without the method
        raise ConfigError(
            f"{recipe.show('semi')}: not supported by diagnose, which trains supervised (use train)"
        )
    if recipe.distributed:  # every rank would train, probe and print
        raise ConfigError(f"{recipe.show('distributed')}: not supported by diagnose (use train)")
    if recipe.device != "cpu":  # before any work, naming the option
        backend.device(recipe.device, option=recipe.show("device"))
    if recipe.validation_split is None:
        recipe = recipe.replace(validation_split=0.1)
    if recipe.plot:
        check_plot_dir(recipe.plot, recipe.show("plot"))
    check_tracking(recipe)  # --tensorboard/--mlflow: before any work, naming the option
    backend.seed(recipe.seed)
    data = load_data(recipe)
    trainer = build_trainer(
        recipe, data.input_shape, data.n_out, data.task, log=None
    )  # the verdict says it
    probe = slice(0, min(PROBE_ROWS, len(data.X_train)))
    X_probe, y_probe = data.X_train[probe], data.y_train[probe]
    report = init_check(trainer.model, X_probe, y_probe, trainer.loss)
    if log is not None:
        log(report.text())
    monitor = GradientMonitor(X=X_probe, y=y_probe)
    trainer.callbacks.append(monitor)  # append wires the monitor to the trainer
    trainer.stop_on_nan = True  # a NaN ends the run with a finding, not an exception
    error = None
    try:
        X, y, kwargs, _ = training_rows(recipe, data, fit_kwargs(recipe, data))
        history = trainer.fit(X, y, verbose=False, **kwargs)
    except TrainingError as exc:
        error, history = exc, trainer.history
    error = error or getattr(trainer, "nan_error", None)
    verdict = diagnose(history, recipe, init_report=report, error=error)
    result = DiagnoseResult(recipe, trainer, data, report, monitor, history, verdict, error)
    if error is None:
        result.test = {k: float(v) for k, v in trainer.evaluate(data.X_test, data.y_test).items()}
    if recipe.plot and history is not None and history.history.get("loss"):
        curves = {k: v for k, v in history.history.items() if k in _CURVES}
        viz.plot_history(curves, os.path.join(recipe.plot, "learning_curves.png"))
        viz.plot_gradient_flow(
            monitor.series("grad_norm"), os.path.join(recipe.plot, "gradient_flow.png")
        )
        result.plots = ["learning_curves.png", "gradient_flow.png"]
    return result
