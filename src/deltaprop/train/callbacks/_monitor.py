"""What the metric-watching callbacks share: a logged value, its direction, and "better"."""

from __future__ import annotations

import math
from typing import Any

from ...checks import check_choice, check_real
from ...errors import ConfigError

MODES = ("auto", "min", "max")

# Keys whose value should go up; everything else we know of should go down.
_UP = ("accuracy", "acc", "f1", "r2", "auc", "precision", "recall")
_DOWN = ("loss", "mae", "mse", "rmse", "error", "lr", "grad_norm", "epoch_seconds")


def infer_mode(monitor: str) -> str:
    """``"min"`` for losses and errors, ``"max"`` for accuracy-like scores (a ``val_`` prefix
    is ignored); ConfigError for a name that says neither."""
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name.endswith("loss") or name in _DOWN or name.endswith("error"):
        return "min"
    if name in _UP or any(name.startswith(up) or name.endswith(up) for up in _UP):
        return "max"
    raise ConfigError(
        f"mode: cannot tell whether {monitor!r} should go down or up; pass mode='min' or mode='max'"
    )


def check_mode(mode: Any, monitor: str, allowed: tuple[str, ...] = MODES) -> str:
    """The mode, with ``"auto"`` resolved from the monitor's name."""
    mode = check_choice(mode, allowed, "mode")
    return infer_mode(monitor) if mode == "auto" else mode


def check_monitor(monitor: Any) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError(f"monitor: expected the name of a logged value, got {monitor!r}")
    return monitor


def logged_value(logs: dict[str, Any] | None, monitor: str, owner: str) -> float:
    """``logs[monitor]`` as a float; ConfigError listing the keys there are when it is missing."""
    logs = logs or {}
    if monitor not in logs:
        hint = ""
        if monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
            hint = " (val_ keys need validation_data or validation_split in fit)"
        raise ConfigError(
            f"monitor: {owner} watches {monitor!r}, which is not in the logs; available keys: "
            f"{list(logs)}{hint}"
        )
    return float(logs[monitor])


class Monitor:
    """A logged value to watch: ``better(a, b)`` is True when a beats b by more than
    ``min_delta`` in the direction of ``mode`` (``a < b - min_delta`` for "min")."""

    def __init__(self, owner: str, monitor: Any, mode: Any, min_delta: Any) -> None:
        self.owner = owner
        self.key = check_monitor(monitor)
        self.mode = check_mode(mode, self.key)
        self.min_delta = abs(check_real(min_delta, "min_delta", minimum=None, allow_inf=True))

    @property
    def worst(self) -> float:
        """The starting "best": every finite value beats it."""
        return math.inf if self.mode == "min" else -math.inf

    def value(self, logs: dict[str, Any] | None) -> float:
        return logged_value(logs, self.key, self.owner)

    def better(self, current: float, reference: float) -> bool:
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta
