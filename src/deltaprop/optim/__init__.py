"""Optimizers: the step that changes parameters (PyTorch's update rules and defaults)."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from .base import Optimizer
from .sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD}


def get_optimizer(name: str, params: Iterable[Any], lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimizer from its name (``"sgd"``), e.g. for the CLI or a config file.

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
    return cls(params, lr=lr, **kwargs)


__all__ = ["OPTIMIZERS", "SGD", "Optimizer", "get_optimizer"]
