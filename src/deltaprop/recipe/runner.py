"""Run a recipe: ``run(recipe)`` trains as ``deltaprop train`` does and returns a
:class:`RunResult`; it also writes the recipe's outputs (``save``, ``metrics_out``, ``plot``,
``checkpoint``).

The steps: check that every output can be written (before any work), seed, load and split the
data, cross-validate (``cv``), fit a fresh Trainer (resuming from ``resume``), evaluate on the
test part, write the files (:mod:`.outputs` checks and writes them). Printing is left to the
caller: the Trainer prints its epoch lines when ``verbose``, and ``log`` receives the
cross-validation line.

>>> import deltaprop as dp
>>> result = dp.run(dp.Recipe(dataset="iris", hidden="8", epochs=3), verbose=False)
>>> sorted(result.metrics)  # doctest: +NORMALIZE_WHITESPACE
['dataset', 'epochs', 'seconds', 'test_accuracy', 'test_loss', 'test_report', 'train_accuracy',
 'train_loss', 'val_accuracy', 'val_loss']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, io, parallel, report
from ..errors import ConfigError, DeltapropError, ModelFileError
from ..train import Trainer, cross_validate
from ..train.callbacks import History, MLflowLogger
from .build import RunData, build_trainer, fit_kwargs, load_data, validation_part
from .describe import name_paths, run_header
from .outputs import check_outputs, model_metadata, write_metrics, write_plots
from .scarce import SEMI_FITS
from .spec import Recipe
from .synthetic import training_rows

Log = Callable[[str], None]


@dataclass
class RunResult:
    """What :func:`run` made: the fitted ``trainer`` (``trainer.model``), its ``history``,
    ``metrics`` (exactly what ``metrics_out`` holds: dataset, test/train loss and accuracy,
    validation loss and accuracy of the final model when there is a ``validation_split``,
    ``test_report`` (confusion matrix, per-class precision/recall/F1, ROC AUC; R^2 for regression),
    epochs, seconds, and ``cv`` when cross-validated), the split ``data``, the full
    :func:`~deltaprop.cross_validate` result ``cv`` (or None) and the ``plots`` written."""

    recipe: Recipe
    trainer: Trainer
    history: History
    metrics: dict[str, Any]
    data: RunData
    cv: dict[str, Any] | None = None
    plots: list[str] = field(default_factory=list)

    @property
    def model(self) -> Any:
        return self.trainer.model


def run(
    recipe: Recipe,
    verbose: bool = True,
    log: Log | None = None,
    *,
    build: Callable[..., Trainer] | None = None,
    header: Callable[[RunData], str] | None = None,
) -> RunResult:
    """Train as the recipe says and write its outputs; return a :class:`RunResult`.

    Args:
        recipe: the run (see :class:`~deltaprop.recipe.Recipe`).
        verbose: the Trainer prints its epoch lines (every ``log_every`` epochs).
        log: receives the run's header and the cross-validation summary line; None prints
            them when ``verbose``. A run that is not learning (the StallWarning) is a warning:
            a :class:`~deltaprop.report.DeltapropWarning`, silenced by ``report.quiet()``.
        build: makes the Trainer, with :func:`~deltaprop.recipe.build.build_trainer`'s
            arguments (the default); a run on another Trainer (``deltaprop distill``'s
            Distiller) passes its own.
        header: ``header(data)`` is added to the run's header line, and may refuse the data
            (raising) before the line is printed.

    Raises:
        ConfigError: an output that cannot be written (before any training) or a bad data file.
        TrainingError: the loss became NaN/Inf (no file is written then).
    """
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"recipe: expected a Recipe, got {type(recipe).__name__}")
    if log is None:
        log = print if verbose else _silent
    if recipe.teacher is not None and build is None:
        raise ConfigError(
            f"{recipe.show('teacher')}: distillation is a run of its own: use `deltaprop "
            "distill` (or deltaprop.distill.distill_run)"
        )
    build = build_trainer if build is None else build
    start = time.perf_counter()
    check_outputs(recipe)
    root = check_resources(recipe)  # MPI, a GPU: before any work, naming the option
    if not root:  # data-parallel: rank 0 alone prints and writes (the Trainer does the same)
        log, verbose = _silent, False
    backend.seed(recipe.seed)
    data = load_data(recipe)
    if data.task_note:  # first: the header's "classes" or "regression" follows from it
        log(data.task_note)
    kwargs = fit_kwargs(recipe, data)  # before the header: a bad augment is a ConfigError
    X_fit, y_fit, kwargs, mixed = training_rows(recipe, data, kwargs)  # synthetic: train only
    log(run_header(recipe, data) + ("" if header is None else header(data)))
    if mixed:
        log(mixed)

    metrics: dict[str, Any] = {"dataset": data.ds.name}
    cv = None
    if recipe.cv is not None:
        cv = cross_validate(
            # the whole training part's class weights for every fold: close to each fold's own
            lambda: build(recipe, data.input_shape, data.n_out, data.task, log=None,
                          y_train=data.y_train, tracking=False),
            data.X_train, data.y_train, k=recipe.cv, stratified=data.classification,
            seed=recipe.seed, fit_kwargs={**kwargs, "verbose": False},
        )  # fmt: skip
        metrics["cv"] = {"k": recipe.cv, "mean": cv["mean"], "std": cv["std"]}
        parts = [f"{k} {v:.4f} ± {cv['std'][k]:.4f}" for k, v in cv["mean"].items()]
        log(f"{recipe.cv}-fold cross-validation: " + "  ".join(parts))

    # The StallWarning is a warning: through the one channel, so that --quiet silences it.
    trainer = build(recipe, data.input_shape, data.n_out, data.task, log=report.warn,
                    y_train=data.y_train)  # fmt: skip
    try:
        if recipe.semi != "none":  # deltaprop.semi's fit (recipe/scarce.py)
            history = semi_fit(recipe)(recipe, trainer, data, kwargs, verbose)
        else:
            history = trainer.fit(X_fit, y_fit, verbose=verbose,
                                  checkpoint=recipe.checkpoint, resume_from=recipe.resume,
                                  **kwargs)  # fmt: skip
    except (ConfigError, ModelFileError) as exc:  # a bad checkpoint/resume path or file
        named = name_paths(str(exc), recipe)
        if named == str(exc) and recipe.checkpoint and named.startswith(recipe.checkpoint + ":"):
            named = f"{recipe.show('checkpoint')}: {named}"  # a checkpoint write that failed
        if named == str(exc):
            raise
        raise type(exc)(named) from None
    names = data.ds.target_names if data.classification else None
    test = trainer.evaluate(data.X_test, data.y_test, report=True, class_names=names)
    metrics["test_loss"] = float(test["loss"])
    if data.classification:
        metrics["test_accuracy"] = float(test["accuracy"])
        metrics["train_accuracy"] = float(history.history["accuracy"][-1])
    else:
        metrics.update(regression_metrics(trainer, data))
    metrics["train_loss"] = float(history.history["loss"][-1])
    val = validation_part(recipe, data)
    if val is not None:  # the final model there: what a search scores a trial by (tune)
        scores = trainer.evaluate(*val)
        metrics["val_loss"] = float(scores["loss"])
        if data.classification:
            metrics["val_accuracy"] = float(scores["accuracy"])
    metrics["test_report"] = test["report"]  # confusion matrix, per-class scores, ROC AUC
    metrics["epochs"] = len(history.history["loss"])
    metrics["seconds"] = round(time.perf_counter() - start, 3)

    result = RunResult(recipe, trainer, history, metrics, data, cv)
    if not root:
        return result
    for cb in trainer.callbacks:  # the test scores, beside the per-epoch ones
        if isinstance(cb, MLflowLogger):
            cb.log_metrics(metrics)
    if recipe.save:
        try:
            io.save(trainer.model, recipe.save, metadata={"deltaprop_cli": model_metadata(result)})
        except DeltapropError as exc:  # the message names the path; the user typed an option
            raise type(exc)(f"{recipe.show('save')}: {exc}") from None
    if recipe.metrics_out:
        write_metrics(recipe.metrics_out, metrics, recipe.show("metrics_out"))
    if recipe.plot:
        try:
            result.plots = write_plots(result)
        except ConfigError as exc:  # viz names its argument "path"
            message = str(exc).removeprefix("path: ")
            raise ConfigError(f"{recipe.show('plot')}: {message}") from None
    return result


def semi_fit(recipe: Recipe) -> Callable[..., History]:
    """The fit of the recipe's ``semi`` method, which :mod:`deltaprop.semi` registers."""
    if recipe.semi not in SEMI_FITS:  # only when deltaprop.semi failed to import
        raise ConfigError(f"{recipe.show('semi')}: {recipe.semi} needs deltaprop.semi")
    return SEMI_FITS[recipe.semi]


def _silent(line: str) -> None:
    pass


def check_resources(recipe: Recipe) -> bool:
    """What the recipe's ``distributed`` and ``device`` need is there (mpi4py and a global
    batch of at least one row per rank; CuPy and a GPU): a ConfigError naming the option
    otherwise, before any work. Returns whether this process writes the outputs (rank 0,
    or the only process)."""
    if recipe.device != "cpu":
        backend.device(recipe.device, option=recipe.show("device"))
    if not recipe.distributed:
        return True
    parallel.mpi(recipe.show("distributed"))
    world = parallel.world()
    if recipe.descent == "stochastic" or (
        recipe.descent == "minibatch" and recipe.batch_size < world.size
    ):
        batch = 1 if recipe.descent == "stochastic" else recipe.batch_size
        name = recipe.show("descent" if recipe.descent == "stochastic" else "batch_size")
        parallel.check_global_batch(batch, world.size, name)
    return world.is_root


def regression_metrics(trainer: Trainer, data: RunData) -> dict[str, float]:
    """R^2, MAE and RMSE of the test part in the targets' own units (predictions mapped back
    through the preprocessing's target scaling); R^2 averaged over target columns."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    prep = data.prep
    pred, true = trainer.predict(data.X_test), data.y_test
    pred, true = (np.asarray(a, np.float64).reshape(len(true), -1) for a in (pred, true))
    if prep is not None:
        pred, true = prep.decode(pred), prep.decode(true)
    return {
        "test_r2": float(r2_score(true, pred)),
        "test_mae": float(mean_absolute_error(true, pred)),
        "test_rmse": float(np.sqrt(mean_squared_error(true, pred))),
    }
