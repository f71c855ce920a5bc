"""Strategies and pruners by name, as Optuna's objects: ``grid`` (GridSampler over the
space's values), ``random`` (RandomSampler), ``bayes`` (TPESampler, or GPSampler with
``sampler="gp"``); pruners ``none``, ``median`` (MedianPruner), ``hyperband``
(HyperbandPruner). Nothing here samples or prunes by itself."""

from __future__ import annotations

import warnings
from typing import Any

from ..checks import check_choice
from ..errors import ConfigError
from .optuna_import import optuna_module
from .space import Space

STRATEGIES = ("grid", "random", "bayes")
SAMPLERS = ("tpe", "gp")
PRUNERS = ("none", "median", "hyperband")
#: Trials a Bayesian sampler draws at random before it models the results (Optuna's default).
STARTUP_TRIALS = 10
#: Trials the median pruner lets finish before it compares, and epochs it never prunes in.
MEDIAN_STARTUP, MEDIAN_WARMUP = 5, 1


def check_strategy(strategy: str, sampler: str) -> tuple[str, str]:
    strategy = check_choice(strategy, STRATEGIES, "strategy")
    sampler = check_choice(sampler, SAMPLERS, "sampler")
    if sampler == "gp" and strategy != "bayes":
        raise ConfigError(
            f"sampler: gp is a Bayesian sampler; expected strategy bayes, got {strategy}"
        )
    return strategy, sampler


def make_sampler(
    strategy: str, sampler: str, space: Space, seed: int | None, startup: int | None = None
) -> Any:
    """The Optuna sampler for ``strategy`` seeded with ``seed`` (one worker with the same
    seed draws the same trials)."""
    optuna = optuna_module()
    startup = STARTUP_TRIALS if startup is None else startup
    if strategy == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # GPSampler and some TPE options are "experimental"
        warnings.simplefilter("ignore")
        if sampler == "gp":
            try:
                import scipy  # noqa: F401
                import torch  # noqa: F401
            except ImportError as exc:
                raise ConfigError(
                    f"sampler: gp needs {exc.name} (Optuna's Gaussian-process sampler); "
                    "install it, or use sampler tpe"
                ) from None
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)


def make_pruner(name: str, max_epochs: int) -> Any:
    """The pruner by name; hyperband's largest budget is the most epochs a trial trains."""
    optuna = optuna_module()
    name = check_choice(name, PRUNERS, "pruner")
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=MEDIAN_STARTUP, n_warmup_steps=MEDIAN_WARMUP
        )
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, max_epochs))
