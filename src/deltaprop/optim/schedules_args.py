"""What every learning-rate schedule shares before its own rule: each group's first lr (torch's
``initial_lr``), and the checks of a schedule's arguments and of its saved state."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ..checks import check_int, check_real
from ..errors import ConfigError
from .base import Optimizer

# torch keeps each group's first lr in group["initial_lr"]; an extra key there would be an unknown
# option to Optimizer.load_state_dict, so it is kept here, per optimizer and group position.
_INITIAL_LRS: weakref.WeakKeyDictionary[Optimizer, list[float]] = weakref.WeakKeyDictionary()


def initial_lrs(optimizer: Optimizer) -> list[float]:
    """The lr each group had when the first schedule was built on it (torch's ``initial_lr``)."""
    saved = _INITIAL_LRS.setdefault(optimizer, [])
    saved.extend(g["lr"] for g in optimizer.param_groups[len(saved) :])
    return saved[: len(optimizer.param_groups)]


def check_optimizer(optimizer: Any) -> Optimizer:
    """``optimizer`` when it is a deltaprop Optimizer (a torch one is a common slip)."""
    if not isinstance(optimizer, Optimizer):
        raise ConfigError(
            f"optimizer: expected a deltaprop Optimizer (e.g. optim.SGD), got "
            f"{type(optimizer).__module__}.{type(optimizer).__name__}"
        )
    return optimizer


def check_milestones(value: Any, name: str = "milestones") -> list[int]:
    """Strictly increasing integers >= 1 (the epochs at which a schedule changes)."""
    try:
        items = list(value)
    except TypeError:
        raise ConfigError(f"{name}: expected a list of integers, got {value!r}") from None
    for i, m in enumerate(items):
        check_int(m, f"{name}[{i}]", minimum=1)
    if any(b <= a for a, b in zip(items, items[1:])):
        raise ConfigError(f"{name}: expected strictly increasing integers, got {items!r}")
    return [int(m) for m in items]


# A check of one saved value: (value, name) -> the value, or a ConfigError naming ``name``.
StateCheck = Callable[[Any, str], Any]


def at_least(minimum: int) -> StateCheck:
    """The check of a saved integer >= ``minimum`` (a counter, a period)."""
    return lambda value, name: check_int(value, name, minimum=minimum)


def positive(value: Any, name: str) -> float:
    """The check of a saved finite number > 0 (a decay factor)."""
    return check_real(value, name, strict=True)


def check_lrs(value: Any, name: str, n: int) -> list[float]:
    """A saved list of ``n`` learning rates (finite numbers >= 0), one per parameter group."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        got = len(value) if isinstance(value, (list, tuple)) else repr(value)
        raise ConfigError(f"{name}: expected {n} value(s), one per parameter group, got {got}")
    return [check_real(v, f"{name}[{i}]") for i, v in enumerate(value)]


def check_counters(state_dict: Any, expected: set[str], owner: str, n: int) -> dict[str, Any]:
    """The keys, ``last_epoch`` (an integer >= -1, torch's "not started") and both lists of lrs
    of a saved schedule with ``n`` parameter groups, checked and normalized."""
    if not isinstance(state_dict, dict) or set(state_dict) != expected:
        got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
        raise ConfigError(
            f"state_dict: expected the keys {sorted(expected)} of a {owner}, got {got}"
        )
    return {
        "last_epoch": check_int(state_dict["last_epoch"], "state_dict['last_epoch']", minimum=-1),
        "base_lrs": check_lrs(state_dict["base_lrs"], "state_dict['base_lrs']", n),
        "last_lr": check_lrs(state_dict["last_lr"], "state_dict['last_lr']", n),
    }
