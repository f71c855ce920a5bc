"""Optimizers by name (the CLI, config files, ``Trainer(optimizer="adam")``), and the one
default learning-rate policy: :func:`default_lr`.

One table holds, per name, the class, the options the name implies and the learning rate used
when none is given; ``OPTIMIZERS`` and ``SUGGESTED_LR`` are views of it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..checks import check_choice
from ..errors import ConfigError
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD


class _Entry(NamedTuple):
    cls: type[Optimizer]
    options: dict[str, Any]  # what the name implies; options given explicitly still win
    lr: float  # see default_lr


# The learning rates train standardized tabular data well: plain SGD takes a large step; the
# adaptive methods want the usual 1e-3 (Adagrad's accumulator shrinks its steps, so 1e-2).
_TABLE: dict[str, _Entry] = {
    "sgd": _Entry(SGD, {}, 0.1),
    "momentum": _Entry(SGD, {"momentum": 0.9}, 0.05),
    "nesterov": _Entry(SGD, {"momentum": 0.9, "nesterov": True}, 0.05),
    "adam": _Entry(Adam, {}, 1e-3),
    "adamw": _Entry(AdamW, {}, 1e-3),
    "rmsprop": _Entry(RMSprop, {}, 1e-3),
    "adagrad": _Entry(Adagrad, {}, 1e-2),
}
OPTIMIZERS: dict[str, type[Optimizer]] = {name: e.cls for name, e in _TABLE.items()}
SUGGESTED_LR: dict[str, float] = {name: e.lr for name, e in _TABLE.items()}


def default_lr(name: str) -> float:
    """The learning rate an optimizer gets by name when the user gives none: the one place
    that decides it (``get_optimizer``, the Trainer, the recipe, the CLI and the doctor ask
    here). The data is ``SUGGESTED_LR``.

    It is not the class's own default on purpose: the classes keep PyTorch's defaults (SGD
    1e-3, RMSprop 1e-2, ...) so that code written for torch, and our parity tests, give the
    same numbers; a name is what a user picks who has no torch code to match, and gets a rate
    that trains out of the box (SGD's 1e-3 barely moves in a short run).

    Raises:
        ConfigError: an unknown name (the known ones are listed).
    """
    return _TABLE[_key(name)].lr


def get_optimizer(
    name: str, params: Iterable[Any], lr: float | None = None, **kwargs: Any
) -> Optimizer:
    """Build an optimizer from its name, e.g. for the CLI or a config file.

    Names: ``"sgd"``, ``"momentum"`` (SGD with ``momentum=0.9`` unless given), ``"nesterov"``
    (SGD with ``momentum=0.9, nesterov=True``), ``"adam"``, ``"adamw"``, ``"rmsprop"``,
    ``"adagrad"`` (any case). ``lr=None`` takes :func:`default_lr` of the name (not the
    class's PyTorch default).

    Raises:
        ConfigError: an unknown name (the known ones are listed) or an option that optimizer
            does not take.
    """
    key = _key(name)
    entry = _TABLE[key]
    accepted = [p for p in inspect.signature(entry.cls).parameters if p not in ("params", "lr")]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ConfigError(
            f"{key}: unknown option(s) {unknown}; {entry.cls.__name__} accepts {accepted}"
        )
    options = {**entry.options, **kwargs}
    return entry.cls(params, lr=entry.lr if lr is None else lr, **options)


def _key(name: Any) -> str:
    return check_choice(name, _TABLE, "optimizer", listed=sorted(_TABLE))
