"""One trial: the space's values -> a Recipe -> a Trainer, trained on the training part and
scored on validation rows, with the score of every epoch reported to Optuna's pruner.

- Holdout (the recipe's ``validation_split``): a trial trains exactly as ``deltaprop train``
  would with its recipe (same seed, same split, same rows held out) and scores the final
  model on the validation rows; ``deltaprop train --config best.toml`` prints that score.
- k-fold (the recipe's ``cv``): folds as ``deltaprop train --cv k`` makes them; after every
  epoch of fold i the pruner sees the running mean over folds, (scores of folds 1..i-1 + the
  current one's) / i, at step ``(i - 1) * epochs + epoch``. The trial's value is the mean
  over the k folds, the number ``deltaprop train`` prints as its cross-validation line.

Classification is scored by accuracy (maximized), regression by the loss (minimized). The
test part is never touched. A trial whose values do not go together, or whose training
diverges (NaN), is recorded as failed with the reason (user attribute ``reason``); the study
goes on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend, report
from ..data.split import kfold_indices
from ..errors import ConfigError, DeltapropError
from ..recipe import Recipe, RunData, build_trainer, fit_kwargs, validation_part
from ..train import cross_validate
from ..train.callbacks import Callback
from . import interrupt
from .optuna_import import optuna_module
from .space import Space
from .storage import INTERRUPTED, retry_callback, worker_tag


class TrialFailed(Exception):
    """A trial that cannot give a score (its reason is the message); the study goes on."""


def metric_of(data: RunData) -> tuple[str, str]:
    """(metric, direction): accuracy maximized for classification, loss minimized else."""
    return ("accuracy", "maximize") if data.classification else ("loss", "minimize")


class Objective:
    """The function Optuna calls with each trial; returns its validation score.

    Args:
        base: the fixed keys (the ``--config`` recipe); ``cv`` chooses k-fold, otherwise its
            ``validation_split`` (> 0) is the holdout.
        space: the parameters to search.
        data: ``load_data(base)``, loaded once and shared by every trial.
    """

    def __init__(self, base: Recipe, space: Space, data: RunData) -> None:
        self.base, self.space, self.data = base, space, data
        self.metric, self.direction = metric_of(data)
        self.val = validation_part(base, data) if base.cv is None else None

    def __call__(self, trial: Any) -> float:
        try:
            interrupt.check()  # Ctrl-C while Optuna asked the sampler: this trial stops
            return self._run(trial)
        except KeyboardInterrupt:  # wherever Ctrl-C lands, the trial is queued again
            trial.set_user_attr("reason", INTERRUPTED)
            _queue_again(optuna_module(), trial)
            raise

    def _run(self, trial: Any) -> float:
        trial.set_user_attr("worker", worker_tag())
        trial.set_user_attr("reason", None)  # a retried trial comes with its first's reason
        try:
            recipe = self.space.suggest(trial, self.base)
        except ConfigError as exc:
            raise _fail(trial, f"the values do not go together: {exc}") from None
        trial.set_user_attr("recipe", recipe.to_dict())
        try:
            # quiet: a StallWarning or EarlyStopping's lines per trial would bury the results
            with report.quiet(True, all_warnings=True), np.errstate(all="ignore"):
                fit = self._holdout if recipe.cv is None else self._crossval
                value, epochs, best_epoch = fit(trial, recipe)
        except DeltapropError as exc:  # TrainingError (NaN, divergence); a ConfigError
            raise _fail(trial, str(exc)) from None
        trial.set_user_attr("epochs", epochs)
        if best_epoch is not None:
            trial.set_user_attr("best_epoch", best_epoch)
        if not math.isfinite(value):
            raise _fail(trial, f"val_{self.metric} is {value}")
        return value

    # --- holdout -----------------------------------------------------------------------------
    def _holdout(self, trial: Any, recipe: Recipe) -> tuple[float, int, int | None]:
        data, key = self.data, f"val_{self.metric}"
        trainer = self._trainer(recipe)
        trainer.callbacks.append(_Reporter(trial, lambda logs, t: logs[key], key))
        kwargs = {**fit_kwargs(recipe, data), "verbose": False}
        history = trainer.fit(data.X_train, data.y_train, **kwargs)
        value = float(trainer.evaluate(*self.val)[self.metric])
        return value, len(history.epoch), _best_epoch(recipe, history)

    # --- k-fold ------------------------------------------------------------------------------
    def _crossval(self, trial: Any, recipe: Recipe) -> tuple[float, int, int | None]:
        data, metric = self.data, self.metric
        X, y = data.X_train, data.y_train
        # The folds cross_validate will make (the same call); fold i's callback needs its rows.
        splits = list(kfold_indices(y, k=recipe.cv, stratified=data.classification,
                                    seed=recipe.seed))  # fmt: skip
        built: list[Any] = []
        scores: list[float] = []

        def build() -> Any:
            i = len(built)
            if built:  # the fold before is done: its score joins the running mean
                held = splits[i - 1][1]
                scores.append(float(built[-1].evaluate(X[held], y[held])[metric]))
            held_out = splits[i][1]

            def score(logs: dict[str, Any], trainer: Any) -> float:
                return float(trainer.evaluate(X[held_out], y[held_out])[metric])

            trainer = self._trainer(recipe, seed=False)  # seeded once, before the folds
            where = f"val_{metric} (fold {i + 1} of {recipe.cv}, mean so far)"
            step0 = i * recipe.epochs
            trainer.callbacks.append(_Reporter(trial, score, where, step0, scores))
            built.append(trainer)
            return trainer

        kwargs = {**fit_kwargs(recipe, data), "verbose": False}
        backend.seed(recipe.seed)  # as run() does: the folds' models follow on one stream
        result = cross_validate(build, X, y, k=recipe.cv, stratified=data.classification,
                                seed=recipe.seed, fit_kwargs=kwargs)  # fmt: skip
        epochs = sum(int(f["epochs"]) for f in result["folds"])
        best = [_best_epoch(recipe, t.history) for t in built]
        best_epoch = round(float(np.mean(best))) if None not in best else None
        return float(result["mean"][metric]), epochs, best_epoch

    def _trainer(self, recipe: Recipe, seed: bool = True) -> Any:
        """A fresh Trainer, built as ``run`` builds it: seeded by the recipe, then made."""
        if seed:
            backend.seed(recipe.seed)
        data = self.data
        return build_trainer(recipe, data.input_shape, data.n_out, data.task, log=None,
                             y_train=data.y_train)  # fmt: skip


class _Reporter(Callback):
    """Reports the running score after every epoch; raises TrialPruned when the pruner says
    so (fit's cleanup runs: the exception passes through ``on_train_end``)."""

    def __init__(self, trial: Any, score: Any, name: str, step0: int = 0,
                 done: list[float] | None = None) -> None:  # fmt: skip
        self.trial, self.score, self.name, self.step0 = trial, score, name, step0
        self.done = done if done is not None else []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        interrupt.check()  # a safe point for Ctrl-C: no storage write is under way
        value = self.score(logs or {}, self.trainer)
        running = (sum(self.done) + value) / (len(self.done) + 1)
        if not math.isfinite(running):
            return  # the NaN guard has the last word on a diverging run
        self.trial.report(running, self.step0 + epoch)
        if self.trial.should_prune():
            optuna = optuna_module()
            self.trial.set_user_attr("epochs", self.step0 + epoch + 1)
            reason = f"pruned after epoch {epoch + 1}: {self.name} {running:.4f}"
            self.trial.set_user_attr("reason", reason)
            raise optuna.TrialPruned(reason)


def _best_epoch(recipe: Recipe, history: Any) -> int | None:
    """With early stopping: the epoch (from 1) whose weights were kept (the lowest val_loss;
    the first of equal ones, as EarlyStopping keeps only strict improvements)."""
    if recipe.early_stopping is None:
        return None
    losses = history.history.get("val_loss") or history.history.get("loss")
    return int(np.argmin(losses)) + 1 if losses else None


def _fail(trial: Any, reason: str) -> TrialFailed:
    trial.set_user_attr("reason", reason)
    return TrialFailed(reason)


def _queue_again(optuna: Any, trial: Any) -> None:
    """Queue an interrupted trial's parameters for the resume (any number of times: Ctrl-C
    is not the trial's fault)."""
    try:
        running = optuna.trial.TrialState.RUNNING
        for frozen in trial.study.get_trials(deepcopy=False, states=(running,)):
            if frozen.number == trial.number:
                retry_callback(max_retry=None)(trial.study, frozen)
    except Exception:  # a second Ctrl-C, a storage gone: the resume runs a new trial instead
        pass
