"""Learning-rate callbacks: a per-epoch function (Keras's LearningRateScheduler), and
ReduceLROnPlateau, which needs a metric and so cannot be a schedule (see optim.schedules)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ...checks import check_bool, check_choice, check_fraction, check_int, check_real
from ...errors import ConfigError
from ...report import note
from ._monitor import check_mode, check_monitor, logged_value
from .base import Callback


def _param_groups(callback: Callback, owner: str) -> list[dict[str, Any]]:
    optimizer = getattr(callback.trainer, "optimizer", None)
    if optimizer is None:
        raise ConfigError(f"{owner}: the Trainer has no optimizer whose learning rate to set")
    return optimizer.param_groups


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of every epoch to ``schedule(epoch, lr)``.

    ``epoch`` counts from 0 and ``lr`` is the current rate, so both closed forms
    (``lambda epoch, lr: 0.1 * 0.5 ** epoch``) and recursive ones (``lambda epoch, lr: lr *
    0.9``) work. Each parameter group's rate is passed and set on its own.

    Raises:
        ConfigError: ``schedule`` is not callable, or it returns something other than a
            finite number >= 0 (checked when it is called).
    """

    def __init__(self, schedule: Any, verbose: bool = False) -> None:
        if not callable(schedule):
            raise ConfigError(
                f"schedule: expected a function (epoch, lr) -> lr, got {type(schedule).__name__}"
            )
        self.schedule = schedule
        self.verbose = check_bool(verbose, "verbose")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        groups = _param_groups(self, "LearningRateScheduler")
        new = []
        for group in groups:
            lr = self.schedule(epoch, group["lr"])
            ok = isinstance(lr, numbers.Real) and not isinstance(lr, bool)
            if not ok or not math.isfinite(lr) or lr < 0:
                raise ConfigError(
                    f"schedule: expected a finite learning rate >= 0 for epoch {epoch}, got {lr!r}"
                )
            new.append(float(lr))
        for group, lr in zip(groups, new, strict=True):
            group["lr"] = lr
        if self.verbose:
            note(f"LearningRateScheduler: epoch {epoch + 1}: lr {new[0]:.6g}")


_PLATEAU_KEYS = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving.

    PyTorch's ``torch.optim.lr_scheduler.ReduceLROnPlateau`` rules, value for value, stepped
    with the monitored value at the end of every epoch. With ``threshold_mode="rel"`` (the
    default) a value improves on the best when ::

        mode "min":  value < best * (1 - min_delta)      mode "max":  value > best * (1 + min_delta)

    and with ``"abs"`` when ``value < best - min_delta`` (``> best + min_delta``). After more
    than ``patience`` epochs without improvement every group's rate becomes
    ``max(lr * factor, min_lr)`` (a change smaller than ``eps`` is skipped), then ``cooldown``
    epochs pass in which bad epochs are not counted.

    Args:
        monitor: a key of the epoch logs.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement that are tolerated.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the lowest rate, one number or one per parameter group.
        min_delta: torch's ``threshold``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the monitor's name).
        threshold_mode: ``"rel"`` or ``"abs"``.
        eps: the smallest change of rate that is applied.
        verbose: print a line at every reduction.

    Attributes (saved by :meth:`state_dict`): ``best``, ``num_bad_epochs``,
    ``cooldown_counter``, ``last_epoch``.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        cooldown: int = 0,
        min_lr: float | list[float] = 0.0,
        min_delta: float = 1e-4,
        mode: str = "min",
        threshold_mode: str = "rel",
        eps: float = 1e-8,
        verbose: bool = True,
    ) -> None:
        self.monitor = check_monitor(monitor)
        self.factor = check_fraction(factor, "factor")
        self.patience = check_int(patience, "patience", minimum=0)
        self.cooldown = check_int(cooldown, "cooldown", minimum=0)
        if isinstance(min_lr, (list, tuple)):
            self.min_lr: float | list[float] = [
                check_real(v, f"min_lr[{i}]", allow_inf=True) for i, v in enumerate(min_lr)
            ]
        else:
            self.min_lr = check_real(min_lr, "min_lr", allow_inf=True)
        self.min_delta = check_real(min_delta, "min_delta", allow_inf=True)
        self.mode = check_mode(mode, self.monitor)
        self.threshold_mode = check_choice(threshold_mode, ("rel", "abs"), "threshold_mode")
        self.eps = check_real(eps, "eps", allow_inf=True)
        self.verbose = check_bool(verbose, "verbose")
        self._resumed = False
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, current: float, best: float) -> bool:
        """torch's ``is_better`` for this mode and threshold mode."""
        d = self.min_delta
        if self.mode == "min":
            return current < (best * (1.0 - d) if self.threshold_mode == "rel" else best - d)
        return current > (best * (d + 1.0) if self.threshold_mode == "rel" else best + d)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._resumed:
            self._resumed = False
        else:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.step(logged_value(logs, self.monitor, "ReduceLROnPlateau"), epoch)

    def step(self, current: float, epoch: int | None = None) -> None:
        """One plateau step with the monitored value (torch's ``step(metrics)``)."""
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            self._reduce(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def _reduce(self, epoch: int | None) -> None:
        groups = _param_groups(self, "ReduceLROnPlateau")
        min_lrs = self.min_lr if isinstance(self.min_lr, list) else [self.min_lr] * len(groups)
        if len(min_lrs) != len(groups):
            raise ConfigError(
                f"min_lr: expected {len(groups)} value(s), one per parameter group, got "
                f"{len(min_lrs)}"
            )
        for i, group in enumerate(groups):
            old = float(group["lr"])
            new = max(old * self.factor, min_lrs[i])
            if old - new > self.eps:
                group["lr"] = new
                if self.verbose:
                    when = "" if epoch is None else f"epoch {epoch + 1}: "
                    which = f" (group {i})" if len(groups) > 1 else ""
                    note(
                        f"ReduceLROnPlateau: {when}{self.monitor} did not improve for "
                        f"{self.patience + 1} epochs; lr{which} {old:.6g} -> {new:.6g}",
                    )

    def state_dict(self) -> dict[str, Any]:
        """The counters and the best value, plain values."""
        return {k: getattr(self, k) for k in _PLATEAU_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values; the next ``fit`` carries on from them.

        Raises:
            ConfigError: other keys, or a value of the wrong type or range (named).
        """
        if not isinstance(state, dict) or set(state) != set(_PLATEAU_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"state_dict: expected the keys {list(_PLATEAU_KEYS)}, got {got}")
        # everything checked before anything is set: a refused state changes nothing
        best = check_real(state["best"], "state_dict['best']", minimum=None, allow_inf=True)
        counters = [check_int(state[k], f"state_dict[{k!r}]", minimum=0) for k in _PLATEAU_KEYS[1:]]
        self.best = best
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = counters
        self._resumed = True

    def __repr__(self) -> str:
        return (
            f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
            f"patience={self.patience}, cooldown={self.cooldown}, min_lr={self.min_lr}, "
            f"min_delta={self.min_delta}, mode={self.mode!r})"
        )
