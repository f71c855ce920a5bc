"""Learning-rate schedules: PyTorch's namesakes, step for step.

A schedule owns an optimizer and writes ``group["lr"]`` for every parameter group. It is stepped
once per epoch by default (the Trainer can step it per batch instead); construction already sets
the lr for epoch 0, as torch's constructors do. Plateau logic needs a metric, so it is a callback
(``dp.callbacks.ReduceLROnPlateau``), not a schedule (STYLE 8).

Each docstring gives the closed form. Like torch, the step itself is computed *recursively* from
the current ``group["lr"]`` (torch's "chainable form"): it reproduces torch's values to the last
bit, and a change made to the lr from outside (a plateau callback) carries on into later steps.
The cosine schedules live in :mod:`.schedules_cosine`; SequentialLR and get_schedule in
:mod:`.schedules_compose`.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from ..checks import check_fraction, check_int, check_real
from .base import Optimizer
from .schedules_args import (
    StateCheck,
    at_least,
    check_counters,
    check_milestones,
    check_optimizer,
    initial_lrs,
    positive,
)


class LRScheduler:
    """Base class: owns ``optimizer``, counts ``last_epoch``, keeps ``base_lrs``.

    Subclasses give the lrs at construction (``_first_lrs``, default: unchanged), one recursive
    step (``_chain_lrs``) and the closed form (``_closed_form_lrs``, used when a SequentialLR
    restarts a schedule at its milestone). ``_state_checks`` lists what ``state_dict`` saves
    besides the counters, each with the check :meth:`load_state_dict` gives a saved value.

    Raises:
        ConfigError: ``optimizer`` is not a deltaprop Optimizer.
    """

    _state_checks: dict[str, StateCheck] = {}

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = check_optimizer(optimizer)
        self.base_lrs: list[float] = list(initial_lrs(optimizer))
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self._initial_step()

    # --- stepping ----------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one epoch (or batch) and write the new lr into every group."""
        self.last_epoch += 1
        self._apply(self._chain_lrs())

    def get_last_lr(self) -> list[float]:
        """The lrs this schedule wrote last, one per parameter group."""
        return list(self._last_lr)

    def _initial_step(self) -> None:
        self.last_epoch = 0
        self._apply(self._first_lrs())

    def _restart(self) -> None:
        """Jump to epoch 0 by the closed form (torch's ``_update_lr(0)`` in SequentialLR)."""
        self.last_epoch = 0
        self._apply(self._closed_form_lrs())

    def _apply(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def _first_lrs(self) -> list[float]:
        return self._current_lrs()

    def _chain_lrs(self) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _closed_form_lrs(self) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Counters, base lrs, last lrs and hyperparameters: plain JSON-able values.

        The current lrs live in the optimizer: restore its state too when resuming.
        """
        state: dict[str, Any] = {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "last_lr": list(self._last_lr),
        }
        for key in self._state_checks:
            value = getattr(self, key)
            state[key] = list(value) if isinstance(value, list) else value
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (the keys must match this schedule's).

        Every value is checked (types and ranges, as the constructor checks its arguments)
        before any is set, so a failed load leaves the schedule as it was.

        Raises:
            ConfigError: naming the key (``state_dict['last_epoch']: expected ...``).
        """
        expected = {"last_epoch", "base_lrs", "last_lr", *self._state_checks}
        n = len(self.optimizer.param_groups)
        values = check_counters(state_dict, expected, type(self).__name__, n)
        for key, check in self._state_checks.items():
            values[key] = check(state_dict[key], f"state_dict[{key!r}]")
        values["_last_lr"] = values.pop("last_lr")
        for key, value in values.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._state_checks)
        return f"{type(self).__name__}({opts}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """Decay by ``gamma`` every ``step_size`` epochs::

        lr_t = base_lr * gamma ** (t // step_size)

    Raises:
        ConfigError: ``step_size`` < 1 or not an integer, ``gamma`` <= 0.
    """

    _state_checks = {"step_size": at_least(1), "gamma": positive}

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int(step_size, "step_size", minimum=1)
        self.gamma = check_real(gamma, "gamma", strict=True)
        super().__init__(optimizer)

    def _chain_lrs(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lrs(self) -> list[float]:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Decay by ``gamma`` at each milestone::

        lr_t = base_lr * gamma ** (number of milestones <= t)

    Raises:
        ConfigError: ``milestones`` not strictly increasing integers >= 1, ``gamma`` <= 0.
    """

    _state_checks = {"milestones": check_milestones, "gamma": positive}

    def __init__(self, optimizer: Optimizer, milestones: list[int], gamma: float = 0.1) -> None:
        self.milestones = check_milestones(milestones)
        self.gamma = check_real(gamma, "gamma", strict=True)
        super().__init__(optimizer)

    def _chain_lrs(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lrs(self) -> list[float]:
        k = bisect_right(self.milestones, self.last_epoch)
        return [b * self.gamma**k for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Decay by ``gamma`` every epoch: ``lr_t = base_lr * gamma ** t``.

    Raises:
        ConfigError: ``gamma`` <= 0.
    """

    _state_checks = {"gamma": positive}

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_real(gamma, "gamma", strict=True)
        super().__init__(optimizer)

    def _chain_lrs(self) -> list[float]:
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lrs(self) -> list[float]:
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr by a factor moving linearly from ``start_factor`` to ``end_factor`` (warm-up)::

        lr_t = base_lr * (s + (e - s) * min(t, total_iters) / total_iters)

    then hold it. Recursively (t <= total_iters)::

        lr_t = lr_{t-1} * (1 + (e - s) / (total_iters * s + (t - 1) * (e - s)))

    Raises:
        ConfigError: ``start_factor`` outside (0, 1], ``end_factor`` outside [0, 1],
            ``total_iters`` < 1.
    """

    _state_checks = {
        "start_factor": lambda v, name: check_fraction(v, name, closed_high=True),
        "end_factor": lambda v, name: check_fraction(v, name, closed_low=True, closed_high=True),
        "total_iters": at_least(1),
    }

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        self.start_factor = check_fraction(start_factor, "start_factor", closed_high=True)
        self.end_factor = check_fraction(
            end_factor, "end_factor", closed_low=True, closed_high=True
        )
        self.total_iters = check_int(total_iters, "total_iters", minimum=1)
        super().__init__(optimizer)

    def _first_lrs(self) -> list[float]:
        return [lr * self.start_factor for lr in self._current_lrs()]

    def _chain_lrs(self) -> list[float]:
        if self.last_epoch > self.total_iters:
            return self._current_lrs()
        s, e = self.start_factor, self.end_factor
        ratio = 1.0 + (e - s) / (self.total_iters * s + (self.last_epoch - 1) * (e - s))
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lrs(self) -> list[float]:
        s, e, n = self.start_factor, self.end_factor, self.total_iters
        return [b * (s + (e - s) * min(n, self.last_epoch) / n) for b in self.base_lrs]
