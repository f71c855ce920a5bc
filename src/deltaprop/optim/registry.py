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
from ..data.loader import DESCENTS
from ..errors import ConfigError
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .base import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD


class _Entry(NamedTuple):
    cls: type[Optimizer]
    options: dict[str, Any]  # what the name implies; options given explicitly still win
    lr: float  # minibatch (and no mode given); see default_lr
    stochastic: float  # batch size 1
    batch: float  # the whole training set per step


# Chosen by measurement (benchmarks/defaults.py; the table is in BENCHMARKS.md): the median
# test accuracy of the default MLP on digits, iris, wine and breast_cancer. Batch size 1 takes
# many noisy steps and wants a smaller rate (SGD at 0.1 kills the ReLUs on digits; with
# momentum 0.9 even 0.005 does); a full batch takes one averaged step per epoch and can afford
# a larger one. The minibatch rates (the first) were kept: each ties with the best measured.
_TABLE: dict[str, _Entry] = {
    "sgd": _Entry(SGD, {}, 0.1, 0.01, 1.0),
    "momentum": _Entry(SGD, {"momentum": 0.9}, 0.05, 0.0015, 0.5),
    "nesterov": _Entry(SGD, {"momentum": 0.9, "nesterov": True}, 0.05, 0.0015, 0.15),
    "adam": _Entry(Adam, {}, 1e-3, 1e-4, 3e-3),
    "adamw": _Entry(AdamW, {}, 1e-3, 1e-4, 3e-3),
    "rmsprop": _Entry(RMSprop, {}, 1e-3, 1e-4, 3e-3),
    "adagrad": _Entry(Adagrad, {}, 1e-2, 3e-3, 3e-2),
}
OPTIMIZERS: dict[str, type[Optimizer]] = {name: e.cls for name, e in _TABLE.items()}
SUGGESTED_LR: dict[str, float] = {name: e.lr for name, e in _TABLE.items()}


def default_lr(name: str, descent: str | None = None) -> float:
    """The learning rate an optimizer gets by name when the user gives none: the one place
    that decides it (``get_optimizer``, the Trainer, the recipe, the CLI and the doctor ask
    here). Without ``descent``, and for ``"minibatch"``, the data is ``SUGGESTED_LR``;
    ``"stochastic"`` (batch size 1) gets a smaller rate and ``"batch"`` (the whole set per
    step) a larger one, measured per name (``benchmarks/defaults.py``, BENCHMARKS.md). The
    recipe (and so the CLI) passes its descent mode; the Trainer, which learns the mode only
    at ``fit``, takes the minibatch rate.

    It is not the class's own default on purpose: the classes keep PyTorch's defaults (SGD
    1e-3, RMSprop 1e-2, ...) so that code written for torch, and our parity tests, give the
    same numbers; a name is what a user picks who has no torch code to match, and gets a rate
    that trains out of the box (SGD's 1e-3 barely moves in a short run).

    Raises:
        ConfigError: an unknown name or descent mode (the known ones are listed).
    """
    entry = _TABLE[_key(name)]
    if descent is None:
        return entry.lr
    mode = check_choice(descent, DESCENTS, "descent")
    return {"stochastic": entry.stochastic, "batch": entry.batch}.get(mode, entry.lr)


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
