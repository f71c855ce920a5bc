"""Composing schedules (SequentialLR) and building one from its name (get_schedule)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from ..checks import check_choice, check_int
from ..errors import ConfigError
from .base import Optimizer
from .schedules import ExponentialLR, LinearLR, LRScheduler, MultiStepLR, StepLR
from .schedules_args import check_counters, check_milestones, check_optimizer, initial_lrs
from .schedules_cosine import CosineAnnealingLR, CosineAnnealingWarmRestarts


class SequentialLR(LRScheduler):
    """Run ``schedulers[i]`` from ``milestones[i - 1]`` until ``milestones[i]``, as torch's does.

    Typical use is a warm-up then a decay::

        warm = LinearLR(opt, start_factor=0.1, total_iters=5)
        main = CosineAnnealingLR(opt, T_max=45)
        sched = SequentialLR(opt, [warm, main], milestones=[5])

    Construction resets every group to its initial lr, rewinds the schedules by one epoch (each
    already stepped once when it was built) and redoes the first step of ``schedulers[0]`` only.
    At epoch ``milestones[i - 1]`` the next schedule restarts at its epoch 0 by its closed form
    (``lr = base_lr * ...``, not from the current lr); later epochs step it recursively.

    Raises:
        ConfigError: no schedules, one that is not an LRScheduler, a nested SequentialLR, one
            built on another optimizer, or ``milestones`` that are not strictly increasing
            integers >= 1, one fewer than the schedules.
    """

    def __init__(
        self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int]
    ) -> None:
        self.optimizer = check_optimizer(optimizer)
        schedulers = list(schedulers) if isinstance(schedulers, (list, tuple)) else schedulers
        if not isinstance(schedulers, list) or not schedulers:
            raise ConfigError(
                f"schedulers: expected a non-empty list of schedules, got {schedulers!r}"
            )
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise ConfigError(
                    f"schedulers[{i}]: expected an LRScheduler, got {type(s).__name__}"
                )
            if isinstance(s, SequentialLR):
                raise ConfigError(f"schedulers[{i}]: a SequentialLR cannot be nested in another")
            if s.optimizer is not optimizer:
                raise ConfigError(
                    f"schedulers[{i}]: {type(s).__name__} was built on another optimizer; every "
                    "schedule must own the optimizer given to SequentialLR"
                )
        self.milestones = check_milestones(milestones)
        if len(self.milestones) != len(schedulers) - 1:
            raise ConfigError(
                f"milestones: expected {len(schedulers) - 1} milestone(s) for {len(schedulers)} "
                f"schedules, got {self.milestones!r}"
            )
        self.schedulers = schedulers
        self.base_lrs = list(initial_lrs(optimizer))
        self.last_epoch = 0
        for group, lr in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = lr
        for s in schedulers:
            s.last_epoch -= 1
        schedulers[0]._initial_step()
        self._last_lr = schedulers[0].get_last_lr()

    def step(self) -> None:
        """Advance one epoch: step the schedule in charge, or restart the next at its milestone."""
        self.last_epoch += 1
        idx = bisect_right(self.milestones, self.last_epoch)
        scheduler = self.schedulers[idx]
        if idx > 0 and self.milestones[idx - 1] == self.last_epoch:
            scheduler._restart()
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def _initial_step(self) -> None:  # pragma: no cover - nesting is refused
        raise ConfigError("a SequentialLR cannot be nested in another")

    def state_dict(self) -> dict[str, Any]:
        """Counters and milestones, plus each schedule's ``state_dict()`` under ``schedulers``."""
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "last_lr": list(self._last_lr),
            "milestones": list(self.milestones),
            "schedulers": [s.state_dict() for s in self.schedulers],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, schedule by schedule; everything is checked
        first, and a schedule that refuses its state puts back the ones loaded before it."""
        expected = {"last_epoch", "base_lrs", "last_lr", "milestones", "schedulers"}
        n = len(self.optimizer.param_groups)
        values = check_counters(state_dict, expected, "SequentialLR", n)
        milestones = check_milestones(state_dict["milestones"], "state_dict['milestones']")
        if len(milestones) != len(self.schedulers) - 1:
            raise ConfigError(
                f"state_dict['milestones']: expected {len(self.schedulers) - 1} milestone(s), "
                f"got {milestones!r}"
            )
        saved = state_dict["schedulers"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self.schedulers):
            got = len(saved) if isinstance(saved, (list, tuple)) else repr(saved)
            raise ConfigError(
                f"state_dict['schedulers']: expected {len(self.schedulers)} schedule(s), got {got}"
            )
        before = [s.state_dict() for s in self.schedulers]
        try:
            for i, (s, sd) in enumerate(zip(self.schedulers, saved, strict=True)):
                try:
                    s.load_state_dict(sd)
                except ConfigError as e:
                    raise ConfigError(f"state_dict['schedulers'][{i}]: {e}") from None
        except ConfigError:
            for s, sd in zip(self.schedulers, before, strict=True):
                s.load_state_dict(sd)
            raise
        self.last_epoch = values["last_epoch"]
        self.base_lrs = values["base_lrs"]
        self._last_lr = values["last_lr"]
        self.milestones = milestones

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.schedulers)
        return (
            f"SequentialLR([{inner}], milestones={self.milestones}, last_epoch={self.last_epoch})"
        )


# name -> the class and its default options when the main schedule runs for n steps. "plateau"
# is listed only to explain that it is a callback.
_TABLE: dict[str, Callable[[int], tuple[type[LRScheduler], dict[str, Any]]] | None] = {
    "step": lambda n: (StepLR, {"step_size": max(1, n // 3), "gamma": 0.1}),
    "multistep": lambda n: (
        MultiStepLR,
        {"milestones": sorted({max(1, n // 2), max(1, 3 * n // 4)}), "gamma": 0.1},
    ),
    # down to 1% of the lr after n steps
    "exponential": lambda n: (ExponentialLR, {"gamma": 0.01 ** (1 / n)}),
    "cosine": lambda n: (CosineAnnealingLR, {"T_max": n, "eta_min": 0.0}),
    "cosine-restarts": lambda n: (
        CosineAnnealingWarmRestarts,
        {"T_0": max(1, n // 4), "T_mult": 1, "eta_min": 0.0},
    ),
    "plateau": None,
}
_ALIASES = {
    "cosine_restarts": "cosine-restarts",  # names.normalize writes "-" as "_"
    "reduce_on_plateau": "plateau",
    "reducelronplateau": "plateau",
}
SCHEDULES = tuple(name for name, defaults in _TABLE.items() if defaults is not None)


def get_schedule(
    name: str, optimizer: Optimizer, epochs: int, warmup: int = 0, **kwargs: Any
) -> LRScheduler:
    """Build a schedule from its name, with defaults fitted to the length of training.

    ``epochs`` is how many times ``step()`` will be called (epochs, or batches when stepped per
    batch); ``warmup`` (same unit) of them ramp up linearly first and the main schedule gets
    the other ``n = epochs - warmup``. Defaults, each overridden by a keyword of the same name:

    - ``"step"``: StepLR(step_size=max(1, n // 3), gamma=0.1)
    - ``"multistep"``: MultiStepLR(milestones=[n // 2, 3 * n // 4], gamma=0.1)
    - ``"exponential"``: ExponentialLR(gamma=0.01 ** (1 / n)), 1% of the lr after n steps
    - ``"cosine"``: CosineAnnealingLR(T_max=n, eta_min=0)
    - ``"cosine-restarts"``: CosineAnnealingWarmRestarts(T_0=max(1, n // 4), T_mult=1, eta_min=0)

    Names go through :func:`deltaprop.names.lookup` (any case; ``_`` for ``-``). With
    ``warmup > 0`` the result is ``SequentialLR([LinearLR(start_factor=0.1,
    total_iters=warmup), main], milestones=[warmup])``.

    Raises:
        ConfigError: an unknown name (the known ones are listed), ``"plateau"`` (a callback:
            ``dp.callbacks.ReduceLROnPlateau``), bad ``epochs``/``warmup``, an option the
            schedule does not take, or a bad option value.
    """
    key = check_choice(name, _TABLE, "schedule", aliases=_ALIASES, listed=SCHEDULES)
    defaults = _TABLE[key]
    if defaults is None:
        raise ConfigError(
            f"schedule: {name!r} needs the validation metric, so it is a callback, not a "
            "schedule: pass callbacks=[dp.callbacks.ReduceLROnPlateau(...)] to the Trainer"
        )
    epochs = check_int(epochs, "epochs", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
    if warmup >= epochs:
        raise ConfigError(
            f"warmup: expected fewer warm-up steps than epochs ({epochs}), got {warmup}"
        )
    cls, options = defaults(epochs - warmup)
    unknown = [k for k in kwargs if k not in options]
    if unknown:
        raise ConfigError(
            f"{key}: unknown option(s) {unknown}; {cls.__name__} accepts {list(options)}"
        )
    options.update(kwargs)
    if warmup == 0:
        return cls(optimizer, **options)
    warm = LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    return SequentialLR(optimizer, [warm, cls(optimizer, **options)], milestones=[warmup])
