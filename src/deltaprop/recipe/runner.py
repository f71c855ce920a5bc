"""Run a recipe: ``run(recipe)`` trains as ``deltaprop train`` does and returns a
:class:`RunResult`; it also writes the recipe's outputs (``save``, ``metrics_out``, ``plot``,
``checkpoint``).

The steps: check that every output can be written (before any work), seed, load and split the
data, cross-validate (``cv``), fit a fresh Trainer (resuming from ``resume``), evaluate on the
test part, write the files. Printing is left to the caller: the Trainer prints its epoch lines
when ``verbose``, and ``log`` receives the cross-validation line.

>>> import deltaprop as dp
>>> result = dp.run(dp.Recipe(dataset="iris", hidden="8", epochs=3), verbose=False)
>>> sorted(result.metrics)  # doctest: +NORMALIZE_WHITESPACE
['dataset', 'epochs', 'seconds', 'test_accuracy', 'test_loss', 'test_report', 'train_accuracy',
 'train_loss', 'val_accuracy', 'val_loss']
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, io, parallel, report, viz
from ..errors import ConfigError, DeltapropError, ModelFileError
from ..train import Trainer, cross_validate
from ..train.callbacks import History, MLflowLogger
from .build import RunData, build_trainer, check_tracking, fit_kwargs, load_data, validation_part
from .describe import name_paths, run_header
from .scarce import SEMI_FITS
from .spec import Recipe
from .synthetic import training_rows

Log = Callable[[str], None]

#: The recipe's output files (``plot`` is a folder, checked apart).
OUTPUTS = ("save", "metrics_out", "checkpoint")
#: What ``plot`` folders receive (train: the first two; diagnose: the first and the last).
PLOT_FILES = ("learning_curves.png", "decision_boundary.png", "gradient_flow.png")


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


def check_writable(path: str | None, name: str) -> None:
    """Fail before training, not after it, when an output file cannot be written (io's one
    path check: not a folder, its folder there and writable)."""
    if path:
        io.check_path(path, name, writable=True)


def check_plot_dir(folder: str, name: str = "plot") -> None:
    """matplotlib is installed and ``folder`` exists (created if missing) and each plot file
    (:data:`PLOT_FILES`) can be written in it."""
    try:
        import matplotlib  # noqa: F401  (optional: the [plot] extra)
    except ImportError:
        raise ConfigError(f"{name}: needs matplotlib: install deltaprop[plot]") from None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot create folder {folder}: {exc.strerror}") from None
    for plot in PLOT_FILES:
        io.check_path(os.path.join(folder, plot), name, writable=True)


def _same_file(a: str | None, b: str | None) -> bool:
    # The same name, or two names of one existing file (a link, "./m" and "m" from elsewhere).
    if not a or not b:
        return False
    if io.same_path(a, b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_distinct(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """No two ``outputs`` are the same file (the later write would replace the earlier one)
    and no output is an existing ``inputs`` file (it would be overwritten); keys name the
    options in the message (``{"--save": path}``), None values are not given."""
    given = [(name, path) for name, path in outputs.items() if path]
    for i, (name, path) in enumerate(given):
        for other, other_path in given[:i]:
            if _same_file(path, other_path):
                raise ConfigError(f"{name}: {path} is also the {other} file; expected another path")
        for other, other_path in inputs.items():
            if other_path and os.path.isfile(other_path) and _same_file(path, other_path):
                raise ConfigError(
                    f"{name}: {path} is the {other} file, which would be overwritten; expected "
                    "another path"
                )


def check_outputs(recipe: Recipe) -> None:
    """Every file the recipe will write can be written (``save``, ``metrics_out``,
    ``checkpoint``, the ``plot`` folder), no two of them are one file and none is an input
    (``dataset``, ``resume``; ``checkpoint`` may be ``resume``: a crashed run restarts)."""
    for name in OUTPUTS:
        check_writable(getattr(recipe, name), recipe.show(name))
    inputs = {recipe.show(k): getattr(recipe, k)
              for k in ("dataset", "synthetic", "init_from", "teacher")}  # fmt: skip
    if not _same_file(recipe.resume, recipe.checkpoint):
        inputs[recipe.show("resume")] = recipe.resume
    check_distinct({recipe.show(k): getattr(recipe, k) for k in (*OUTPUTS, "plot")}, inputs)
    if recipe.plot:
        check_plot_dir(recipe.plot, recipe.show("plot"))
    check_tracking(recipe)  # tensorboard's folder, mlflow's store


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


def model_metadata(result: RunResult) -> dict[str, Any]:
    """What a saved model keeps under ``"deltaprop_cli"``: the data set, task, feature and
    target names, the standardizer (``deltaprop predict`` applies it), the settings, and
    ``image_shape`` [C, H, W] when the model takes images (``deltaprop predict`` reshapes the
    flat rows it reads into images; absent for a model that takes rows)."""
    ds = result.data.ds
    shape = result.data.input_shape
    images = {"image_shape": list(shape)} if len(shape) == 3 else {}
    return {
        "dataset": ds.name,
        "task": ds.task,
        "feature_names": list(ds.feature_names),
        "target_names": list(ds.target_names) if ds.target_names is not None else None,
        "standardizer": result.data.scaler.state(),
        "preprocessor": result.data.prep.state() if result.data.prep else None,
        "settings": result.recipe.to_dict(),
        **images,
    }


def write_metrics(path: str, metrics: dict[str, Any], name: str = "metrics_out") -> None:
    """``metrics`` as indented JSON, written atomically (fsynced)."""
    text = json.dumps(metrics, indent=2) + "\n"
    try:
        io.atomic_write(path, text.encode("utf-8"))
    except DeltapropError as exc:  # exc names the path and the reason
        raise ConfigError(f"{name}: {exc}") from None


def write_plots(result: RunResult) -> list[str]:
    """learning_curves.png, and decision_boundary.png for 2-feature classification data (in
    the standardized coordinates the model sees, with the training points), into
    ``recipe.plot``; returns the file names."""
    folder, data = result.recipe.plot, result.data
    written = ["learning_curves.png"]
    viz.plot_history(result.history, os.path.join(folder, written[0]))
    X = data.X_train
    if data.classification and X.ndim == 2 and X.shape[1] == 2:
        written.append("decision_boundary.png")
        viz.plot_decision_boundary(result.trainer, X, data.y_train,
                                   os.path.join(folder, written[1]))  # fmt: skip
    return written
