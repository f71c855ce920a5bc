"""A run as data: :class:`Recipe` describes one training run (data and split, model, loss,
optimizer, schedule, regularization, descent and batch size, callbacks, seed, outputs) with one
set of keys for Python keyword arguments, TOML files and ``deltaprop train``'s flags; the
functions here turn it into data, a model, a Trainer and a result.

>>> import deltaprop as dp
>>> recipe = dp.Recipe(dataset="iris", hidden="16", optimizer="adam", lr=0.01, epochs=20)
>>> result = dp.run(recipe, verbose=False)           # train, evaluate, write the outputs
>>> result.metrics["test_accuracy"] > 0.8
True
>>> report = dp.recipe.diagnose_run(recipe.replace(epochs=5))   # the doctor's verdict
>>> fixes = [recipe.replace(**r.changes) for r in report.verdict.remedies]  # Remedy(text, changes)

The pieces, for code that needs only some of them (a search, a distillation run):

- :data:`FIELDS`: the table of keys (name, default, kind, help) behind Recipe, TOML and flags;
- :class:`Recipe`: ``Recipe(**kwargs)``, ``Recipe.from_dict(d)``, ``Recipe.from_toml(path)``,
  ``recipe.replace(**changes)``, ``recipe.to_dict()``;
- :func:`load_data` -> :class:`RunData`; :func:`build_model`, :func:`build_optimizer`,
  :func:`build_schedule`, :func:`build_callbacks`, :func:`build_trainer`,
  :func:`build_augment`;
- :func:`predict_file` / :func:`predict_arrays` -> :class:`Prediction` (a saved model and its
  preprocessing on new data);
- :func:`run` -> :class:`RunResult`; :func:`diagnose_run` -> :class:`DiagnoseResult`.
"""

from .build import (
    RunData,
    build_augment,
    build_callbacks,
    build_model,
    build_optimizer,
    build_schedule,
    build_trainer,
    fit_kwargs,
    load_data,
    validation_part,
)
from .diagnose import DiagnoseResult, diagnose_run
from .fields import FIELD_SPECS, FIELDS, TRAIN_OPTIONS, FieldSpec, flag, key_display
from .outputs import check_outputs, check_plot_dir, check_writable
from .predict import Prediction, load_model, predict_arrays, predict_file
from .runner import RunResult, run
from .spec import Recipe, read_toml
from .validate import parse_hidden

__all__ = [
    "Prediction",
    "load_model",
    "predict_arrays",
    "predict_file",
    "FIELDS",
    "FIELD_SPECS",
    "TRAIN_OPTIONS",
    "DiagnoseResult",
    "FieldSpec",
    "Recipe",
    "RunData",
    "RunResult",
    "build_augment",
    "build_callbacks",
    "build_model",
    "build_optimizer",
    "build_schedule",
    "build_trainer",
    "check_outputs",
    "check_plot_dir",
    "check_writable",
    "diagnose_run",
    "fit_kwargs",
    "flag",
    "key_display",
    "load_data",
    "parse_hidden",
    "read_toml",
    "run",
    "validation_part",
]
