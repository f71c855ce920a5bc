"""A study's files in its output folder.

- ``trials.csv``: every trial: number, state, value, the searched parameters, epochs run,
  seconds, and the reason a trial was pruned or failed;
- ``best.toml``: the best trial's recipe, in the format ``deltaprop train --config`` reads
  (:mod:`.toml_out`);
- ``importances.json`` and ``importances.png``, ``history.png``: Optuna's parameter
  importances and its matplotlib plots (the plots need deltaprop[plot]);
- ``best.safetensors`` and ``best_metrics.json``: the best recipe retrained on
  train+validation (``validation_split`` 0; with early stopping, for the epochs the trial
  kept) and evaluated once on the test part.

Every file is written atomically; a study stopped with Ctrl-C writes trials.csv and
best.toml only.
"""

from __future__ import annotations

import csv
import io as text_io
import json
import os
import warnings
from collections.abc import Callable
from typing import Any

from .. import io
from ..errors import ConfigError, DeltapropError
from ..recipe import Recipe, check_writable, run
from ..recipe.describe import test_summary
from ..recipe.outputs import write_metrics
from .optuna_import import optuna_module
from .storage import JOURNAL, retried
from .toml_out import best_toml

Log = Callable[[str], None]
FILES = ("trials.csv", "best.toml", "importances.json", "importances.png", "history.png",
         "best.safetensors", "best_metrics.json")  # fmt: skip


def check_out(out: str, journal: bool) -> None:
    """The output folder exists (made if missing) and every file can be written there."""
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out):
        raise ConfigError(f"out: expected a folder path, got {out!r}")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"out: cannot create folder {out}: {exc.strerror}") from None
    for name in FILES + ((JOURNAL,) if journal else ()):
        check_writable(os.path.join(out, name), "out")


def write_partial(study: Any, result: Any, log: Log | None) -> list[str]:
    """After Ctrl-C: trials.csv and best.toml (when a trial has completed)."""
    written = [write_trials(study, result.out)]
    best = best_trial(study)
    if best is not None:
        _note_best(result, best)
        written.append(write_best(study, best, result))
    if log is not None:
        log(f"stopped: wrote {', '.join(written)} to {result.out}; run the same command again "
            "to resume")  # fmt: skip
    return written


def write_all(study: Any, result: Any, job: Any, retrain: bool, log: Log | None) -> None:
    """Every file (see the module's docstring); fills ``result``."""
    say = log or (lambda line: None)
    result.files.append(write_trials(study, result.out))
    best = best_trial(study)
    if best is None:
        say(f"no trial completed: wrote trials.csv to {result.out}")
        return
    _note_best(result, best)
    result.files.append(write_best(study, best, result))
    say(f"best: trial {best.number}  val_{result.metric} {best.value:.4f}  "
        f"({_params_text(best.params)})")  # fmt: skip
    result.importances = importances(study)
    if result.importances:
        path = os.path.join(result.out, "importances.json")
        io.atomic_write(path, (json.dumps(result.importances, indent=2) + "\n").encode())
        result.files.append("importances.json")
        say("importances: " + "  ".join(f"{k} {v:.2f}" for k, v in result.importances.items()))
    result.files += write_plots(study, result.out, bool(result.importances), say)
    if retrain:
        result.metrics = retrain_best(result.best_recipe, best, result)
        result.files += ["best.safetensors", "best_metrics.json"]
        m = result.metrics
        say(f"best retrained on train+validation ({m['epochs']} epochs): {test_summary(m)}")
    say(f"wrote {', '.join(result.files)} to {result.out}")


def best_trial(study: Any) -> Any:
    state = optuna_module().trial.TrialState
    if not study.get_trials(deepcopy=False, states=(state.COMPLETE,)):
        return None
    return study.best_trial


def _note_best(result: Any, best: Any) -> None:
    result.best_number, result.best_value = best.number, best.value
    result.best_recipe = Recipe.from_dict(best.user_attrs["recipe"])


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in params.items())  # fmt: skip


# --- trials.csv ------------------------------------------------------------------------------
def write_trials(study: Any, out: str) -> str:
    trials = study.get_trials(deepcopy=False)
    again = retried(trials)
    params = list(dict.fromkeys(k for t in trials for k in t.params))
    head = ["number", "state", "value", *params, "epochs", "seconds", "reason"]
    buf = text_io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for t in trials:
        reason = t.user_attrs.get("reason") or ""
        if t.state.name == "WAITING":  # a copy keeps its first's attributes until it runs
            first = t.system_attrs.get("retry_history", ["?"])[-1]
            reason = f"queued again for trial {first}"
        if t.number in again and not reason:
            reason = f"the worker stopped mid-trial; queued again as trial {again[t.number]}"
        elif t.number in again:
            reason += f"; queued again as trial {again[t.number]}"
        seconds = t.duration.total_seconds() if t.duration is not None else ""
        value = "" if t.value is None else repr(float(t.value))
        writer.writerow([t.number, t.state.name, value,
                         *[t.params.get(k, "") for k in params],
                         t.user_attrs.get("epochs", ""),
                         f"{seconds:.3f}" if seconds != "" else "", reason])  # fmt: skip
    io.atomic_write(os.path.join(out, "trials.csv"), buf.getvalue().encode("utf-8"))
    return "trials.csv"


def write_best(study: Any, best: Any, result: Any) -> str:
    text = best_toml(result.best_recipe, best.number, study.study_name, result.metric,
                     best.value, best.params)  # fmt: skip
    io.atomic_write(os.path.join(result.out, "best.toml"), text.encode("utf-8"))
    return "best.toml"


# --- importances and plots -------------------------------------------------------------------
def importances(study: Any) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA), largest first; None when there are too few
    completed trials, or parameters, to tell."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    complete = study.get_trials(deepcopy=False, states=(state.COMPLETE,))
    if len(complete) < 2 or not any(t.params for t in complete):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):  # one distinct value per parameter, and the like
        return None
    return {k: float(v) for k, v in found.items()} or None


def write_plots(study: Any, out: str, with_importances: bool, say: Log) -> list[str]:
    """history.png (and importances.png) through optuna.visualization.matplotlib."""
    try:
        import matplotlib
    except ImportError:
        say("plots skipped: they need matplotlib (pip install deltaprop[plot])")
        return []
    matplotlib.use("Agg", force=False)  # no window: files only
    import matplotlib.pyplot as plt

    vis = optuna_module().visualization.matplotlib
    plots = [("history.png", vis.plot_optimization_history)]
    if with_importances:
        plots.append(("importances.png", vis.plot_param_importances))
    written = []
    for name, plot in plots:
        with warnings.catch_warnings():  # "experimental" and tight-layout notices
            warnings.simplefilter("ignore")
            ax = plot(study)
            fig = ax.figure
            fig.tight_layout()
            data = text_io.BytesIO()
            fig.savefig(data, format="png", dpi=100)
            plt.close(fig)
        io.atomic_write(os.path.join(out, name), data.getvalue())
        written.append(name)
    return written


# --- the retrain ---------------------------------------------------------------------------
def retrain_recipe(best: Recipe, best_epoch: int | None, save: str | None = None) -> Recipe:
    """The best recipe for training on train+validation: no validation split, no k-fold;
    with early stopping, the epochs whose weights the trial kept instead."""
    epochs = best.epochs
    if best.early_stopping is not None and best_epoch:
        epochs = max(int(best_epoch), best.warmup + 1)
    return best.replace(validation_split=0.0, cv=None, early_stopping=None, epochs=epochs,
                        save=save)  # fmt: skip


def retrain_best(recipe: Recipe, best: Any, result: Any) -> dict[str, Any]:
    """Train :func:`retrain_recipe` through :func:`deltaprop.run` (the test part's one
    evaluation), save best.safetensors, write best_metrics.json; return its content."""
    save = os.path.join(result.out, "best.safetensors")
    final = retrain_recipe(recipe, best.user_attrs.get("best_epoch"), save)
    try:
        run_result = run(final, verbose=False)
    except DeltapropError as exc:
        raise type(exc)(f"retraining the best trial ({best.number}): {exc}") from None
    metrics = {
        "best_trial": best.number,
        f"val_{result.metric}": float(best.value),
        "params": best.params,
        "retrained_on": "train+validation",
        **run_result.metrics,
    }
    write_metrics(os.path.join(result.out, "best_metrics.json"), metrics, "out")
    return metrics
