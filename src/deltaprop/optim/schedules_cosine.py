"""Cosine annealing schedules: CosineAnnealingLR and CosineAnnealingWarmRestarts (SGDR)."""

from __future__ import annotations

import math

from ..checks import check_int, check_real
from .base import Optimizer
from .schedules import LRScheduler
from .schedules_args import at_least


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` down to ``eta_min`` over ``T_max`` epochs::

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    Past ``T_max`` it rises again (period ``2 * T_max``), as torch's does; there is no restart.
    Recursively, with torch's additive step where the ratio would be 0/0 (at ``t = T_max + 1``)::

        lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t / T)) / (1 + cos(pi (t-1) / T))

    Raises:
        ConfigError: ``T_max`` < 1, ``eta_min`` < 0.
    """

    _state_checks = {"T_max": at_least(1), "eta_min": check_real}

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = check_int(T_max, "T_max", minimum=1)
        self.eta_min = check_real(eta_min, "eta_min")
        super().__init__(optimizer)

    def _chain_lrs(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - T) % (2 * T) == 0:
            return [
                lr + (b - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for lr, b in zip(self._current_lrs(), self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lrs(self) -> list[float]:
        c = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (b - self.eta_min) * c / 2 for b in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts at ``base_lr`` every cycle (SGDR)::

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``T_cur`` counts epochs since the last restart; when it reaches ``T_i`` it wraps to 0 and the
    cycle length ``T_i`` (``T_0`` at first) is multiplied by ``T_mult``.

    Raises:
        ConfigError: ``T_0`` < 1, ``T_mult`` < 1 (both integers), ``eta_min`` < 0.
    """

    # T_cur is -1 before the first step, then in [0, T_i)
    _state_checks = {
        "T_0": at_least(1),
        "T_mult": at_least(1),
        "eta_min": check_real,
        "T_i": at_least(1),
        "T_cur": at_least(-1),
    }

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0
    ) -> None:
        self.T_0 = check_int(T_0, "T_0", minimum=1)
        self.T_mult = check_int(T_mult, "T_mult", minimum=1)
        self.eta_min = check_real(eta_min, "eta_min")
        self.T_i, self.T_cur = self.T_0, -1
        super().__init__(optimizer)

    def step(self) -> None:
        """Advance one epoch (or batch); wrap ``T_cur`` and grow ``T_i`` at the end of a cycle."""
        self.T_cur += 1
        if self.T_cur >= self.T_i:
            self.T_cur = self.T_cur % self.T_i
            self.T_i = self.T_i * self.T_mult
        self.last_epoch += 1
        self._apply(self._closed_form_lrs())

    def _first_lrs(self) -> list[float]:
        self.T_i, self.T_cur = self.T_0, 0
        return self._closed_form_lrs()

    def _closed_form_lrs(self) -> list[float]:
        # Like torch, a SequentialLR restart leaves T_cur and T_i as they are.
        c = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (b - self.eta_min) * c / 2 for b in self.base_lrs]
