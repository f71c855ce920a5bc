"""Hyperparameter search on Optuna (the ``[tune]`` extra): a search space over the run
recipe's keys, the glue from a trial to a Trainer (pruning on per-epoch validation scores,
holdout or k-fold), storages (journal file, SQLite, PostgreSQL) shared by worker processes,
and the reports (trials.csv, best.toml, importances, plots, the best model retrained and
tested once).

>>> import deltaprop as dp
>>> space = dp.tune.Space(lr=dp.tune.LogFloat(1e-3, 1e-1), hidden=dp.tune.Choice(["16", "32,16"]))
>>> result = dp.tune.run_study(dp.Recipe(dataset="iris", epochs=20), space, strategy="random",
...                            trials=10, out="study")           # doctest: +SKIP
>>> result.best_recipe.lr, result.best_value, result.metrics["test_accuracy"]  # doctest: +SKIP

Optuna is imported when a study starts, not with deltaprop.
"""

from .objective import Objective, TrialFailed
from .params import Choice, Float, Int, LogFloat
from .report import retrain_recipe
from .samplers import PRUNERS, SAMPLERS, STRATEGIES
from .space import SEARCHABLE, Space, default_space
from .study import StudyResult, run_study
from .toml_out import recipe_toml

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "SEARCHABLE",
    "STRATEGIES",
    "Choice",
    "Float",
    "Int",
    "LogFloat",
    "Objective",
    "Space",
    "StudyResult",
    "TrialFailed",
    "default_space",
    "recipe_toml",
    "retrain_recipe",
    "run_study",
]
