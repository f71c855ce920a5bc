"""A run's output files: the checks that every file it will write can be written (before any
work: nothing is left half-done by a path that fails at the end), and the writers of the
metrics JSON, the plots and the metadata a saved model keeps.

:func:`check_outputs` checks a recipe's ``save``, ``metrics_out``, ``checkpoint`` and ``plot``
(and that no two are one file, and none is an input); :func:`check_distinct` and
:func:`check_writable` serve the other commands' outputs.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from .. import io, viz
from ..errors import ConfigError, DeltapropError
from .build import check_tracking
from .spec import Recipe

if TYPE_CHECKING:  # a type only: runner imports this module
    from .runner import RunResult

#: The recipe's output files (``plot`` is a folder, checked apart).
OUTPUTS = ("save", "metrics_out", "checkpoint")
#: What ``plot`` folders receive (train: the first two; diagnose: the first and the last).
PLOT_FILES = ("learning_curves.png", "decision_boundary.png", "gradient_flow.png")


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
