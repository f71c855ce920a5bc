"""Optimizers: the step that changes parameters (PyTorch's update rules and defaults)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .clip import clip_grad_norm, clip_grad_value
from .rmsprop import RMSprop
from .schedules import ExponentialLR, LinearLR, LRScheduler, MultiStepLR, StepLR
from .schedules_compose import SCHEDULES, SequentialLR, get_schedule
from .schedules_cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts
from .sgd import SGD

# Names for the CLI, config files and Trainer(optimizer="adam"). Two are SGD with other
# defaults (see _ALIAS_DEFAULTS); options given explicitly still win.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": SGD,
    "nesterov": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}
# A learning rate per optimizer name that trains standardized tabular data well, used when the
# user gives none (the CLI, the doctor's remedies): plain SGD takes a large step; the adaptive
# methods want PyTorch's usual defaults.
SUGGESTED_LR: dict[str, float] = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adam": 1e-3,
    "adamw": 1e-3,
    "rmsprop": 1e-3,
    "adagrad": 1e-2,
}
_ALIAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9, "nesterov": True},
}


def get_optimizer(
    name: str, params: Iterable[Any], lr: float | None = None, **kwargs: Any
) -> Optimizer:
    """Build an optimizer from its name, e.g. for the CLI or a config file.

    Names: ``"sgd"``, ``"momentum"`` (SGD with ``momentum=0.9`` unless given), ``"nesterov"``
    (SGD with ``momentum=0.9, nesterov=True``), ``"adam"``, ``"adamw"``, ``"rmsprop"``,
    ``"adagrad"`` (any case). ``lr=None`` takes that optimizer's default learning rate.

    Raises:
        ConfigError: an unknown name (the known ones are listed) or an option that optimizer
            does not take.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ConfigError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    cls = OPTIMIZERS[key]
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("params", "lr")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ConfigError(f"{key}: unknown option(s) {unknown}; {cls.__name__} accepts {accepted}")
    options = {**_ALIAS_DEFAULTS.get(key, {}), **kwargs}
    if lr is not None:
        options["lr"] = lr
    return cls(params, **options)


__all__ = [
    "SCHEDULES",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "SequentialLR",
    "StepLR",
    "get_schedule",
    "OPTIMIZERS",
    "SUGGESTED_LR",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm",
    "clip_grad_value",
    "get_optimizer",
]
