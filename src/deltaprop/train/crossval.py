"""k-fold cross-validation: a fresh Trainer per fold, scored on the fold it did not see.

The folds are scikit-learn's (through :mod:`deltaprop.data.split`); this module builds the
Trainers, trains and scores them, and gathers the scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend, report
from ..checks import check_bool, check_int, check_optional
from ..data.split import kfold_indices
from ..errors import ConfigError, DataError
from .trainer import Trainer


def cross_validate(
    build: Callable[[], Any],
    X: Any,
    y: Any,
    k: int = 5,
    stratified: bool = True,
    seed: int | None = None,
    fit_kwargs: dict[str, Any] | None = None,
    verbose: bool | None = None,
) -> dict[str, Any]:
    """k-fold cross-validation: train a fresh Trainer on k-1 folds, score it on the k-th.

    Every row is in exactly one held-out fold. For classification with ``stratified`` the
    folds keep the class shares (scikit-learn's StratifiedKFold; plain KFold with a warning
    when the smallest class has fewer than k rows).

    Args:
        build: a function with no arguments that returns a new Trainer (a new model and
            optimizer) each time it is called; it is called once per fold.
        X, y: all the data, as for :meth:`Trainer.fit`.
        k: the number of folds, 2 <= k <= the number of rows.
        stratified: keep class shares in every fold (classification only).
        seed: seeds the assignment of rows to folds; None draws from deltaprop's generator.
        fit_kwargs: keyword arguments for every ``fit`` (epochs, batch_size, verbose, ...;
            ``validation_split`` carves a validation part out of the training folds, e.g.
            for EarlyStopping). ``validation_data`` is refused: the held-out fold is the test.
        verbose: False prints nothing: no epoch lines and no callback lines (EarlyStopping's
            stop and restore lines); True prints them. None (the default) follows
            ``fit_kwargs["verbose"]`` (default True). A fold split that cannot be stratified
            is still a warning (a :class:`deltaprop.report.DeltapropWarning`).

    Returns:
        ``{"folds": [{"loss": ..., "accuracy": ..., "epochs": ...}, ...],
        "mean": {"loss": ..., "accuracy": ...}, "std": {...}, "val_indices": [...]}``:
        per fold, ``trainer.evaluate`` on its held-out rows plus the epochs it trained; the
        mean and the standard deviation (population, ``ddof=0``) of each score over the folds;
        the held-out row indices of each fold.

    Raises:
        ConfigError: ``build`` is not callable or does not return a new Trainer, ``k`` is not
            an integer in [2, number of rows], bad ``seed``/``fit_kwargs``. Checked before any
            training.
        DataError: X and y of different lengths.
    """
    if not callable(build):
        raise ConfigError(
            f"build: expected a function that returns a new Trainer, got {type(build).__name__}"
        )
    k = check_int(k, "k", minimum=2)
    stratified = check_bool(stratified, "stratified")
    seed = check_optional(check_int, seed, "seed", minimum=0)
    fit_kwargs = _check_fit_kwargs(fit_kwargs)
    if verbose is None:
        verbose = fit_kwargs.get("verbose", True)
    verbose = check_bool(verbose, "verbose")
    fit_kwargs["verbose"] = verbose
    return _run_folds(build, X, y, k, stratified, seed, fit_kwargs)


def _run_folds(
    build: Callable[[], Any],
    X: Any,
    y: Any,
    k: int,
    stratified: bool,
    seed: int | None,
    fit_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """The checked cross-validation (see :func:`cross_validate`)."""
    X, y = _rows(X), _rows(y)
    n = X.shape[0] if X.ndim else 0
    if (y.shape[0] if y.ndim else 0) != n:
        raise DataError(
            f"X and y: expected the same number of rows, got {n} and {y.shape[0] if y.ndim else 0}"
        )
    if k > n:
        raise ConfigError(f"k: expected at most the number of rows ({n}), got {k}")
    trainer = build()
    _check_built(trainer, [])
    labels = backend.to_numpy(y)
    if trainer.task == "classification":
        labels = labels.reshape(len(labels), -1)[:, 0]
    else:
        stratified = False
    splits = list(kfold_indices(labels, k=k, stratified=stratified, seed=seed))
    folds: list[dict[str, float]] = []
    seen: list[Any] = []
    # The folds' callbacks (EarlyStopping...) speak through deltaprop.report: a quiet
    # cross-validation silences them there.
    with report.quiet(not fit_kwargs["verbose"]):
        for i, (tr, va) in enumerate(splits):
            if i:
                trainer = build()
                _check_built(trainer, seen)
            seen.append(trainer)
            history = trainer.fit(X[tr], y[tr], **fit_kwargs)
            scores = trainer.evaluate(X[va], y[va])
            scores["epochs"] = len(history.epoch)
            folds.append(scores)
    keys = [key for key in folds[0] if key != "epochs"]
    values = {key: np.array([f[key] for f in folds], dtype=np.float64) for key in keys}
    return {
        "folds": folds,
        "mean": {key: float(v.mean()) for key, v in values.items()},
        "std": {key: float(v.std()) for key, v in values.items()},
        "val_indices": [va for _, va in splits],
    }


def _rows(a: Any):
    """An array indexable by rows: NumPy (lists, data frames) or CuPy arrays kept as they are."""
    return a if backend.xp_of(a) is not np else np.asarray(a)


def _check_fit_kwargs(fit_kwargs: Any) -> dict[str, Any]:
    if fit_kwargs is None:
        return {}
    if not isinstance(fit_kwargs, dict):
        raise ConfigError(f"fit_kwargs: expected a dict, got {type(fit_kwargs).__name__}")
    refused = [key for key in ("X", "y", "validation_data") if key in fit_kwargs]
    if refused:
        raise ConfigError(
            f"fit_kwargs: {refused} cannot be set: each fold's rows are given by "
            "cross_validate and its held-out fold is the test (use validation_split for a "
            "validation part of the training folds)"
        )
    return dict(fit_kwargs)


def _check_built(trainer: Any, seen: list[Any]) -> None:
    if not isinstance(trainer, Trainer):
        raise ConfigError(
            f"build: expected it to return a deltaprop Trainer, got {type(trainer).__name__}"
        )
    for other in seen:
        if trainer is other or trainer.model is other.model:
            raise ConfigError(
                "build: it returned a Trainer (or model) it returned before; build a new model "
                "and optimizer on every call, or the folds train one model"
            )
