"""EarlyStopping: stop when a monitored value stops improving, and keep the best weights."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...checks import check_bool, check_int, check_optional, check_real
from ...errors import ConfigError
from ...report import note
from ._monitor import Monitor
from .base import Callback

_STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch", "best_weights")


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras's rules).

    After every epoch (from ``start_from_epoch`` on) the value is compared with the best so
    far: it improves when it beats the best by more than ``min_delta`` in the direction of
    ``mode``. ``wait`` counts the epochs since the last improvement; training stops at the end
    of an epoch where ``wait >= patience`` (so ``patience=0`` and ``1`` both stop at the first
    epoch without improvement; never after the very first epoch). With a ``baseline``, an
    improvement resets ``wait`` only if it also beats the baseline: training stops when the
    value has not beaten the baseline within ``patience`` epochs.

    With ``restore_best_weights`` the model's parameters and buffers (e.g. batch-norm running
    statistics) are copied at every improvement and put back when training ends, whether this
    callback stopped it or the last epoch was reached. When it stops training it prints why
    (``verbose``): the best value, its epoch and how many epochs passed without improvement.

    Args:
        monitor: a key of the epoch logs (``"val_loss"``, ``"val_accuracy"``, ``"loss"``, ...).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name: losses and errors go down,
            accuracy-like scores go up).
        min_delta: the smallest change that counts as an improvement (its sign is ignored).
        patience: epochs without improvement before stopping.
        baseline: a value the monitored one must beat; None for none.
        start_from_epoch: epochs (from 0) to train before watching at all (a warm-up).
        restore_best_weights: put the best epoch's weights back at the end.
        verbose: print the reason when stopping, and the restored epoch.

    Attributes (saved by :meth:`state_dict`): ``wait``, ``best``, ``best_epoch`` and
    ``stopped_epoch`` (epoch numbers from 0, None until set), ``best_weights`` (the model's
    ``state_dict()`` at the best epoch, or None).

    Raises:
        ConfigError: a bad argument, or (at the end of the first epoch) a ``monitor`` that is
            not in the logs; the message lists the keys that are.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        patience: int = 0,
        baseline: float | None = None,
        start_from_epoch: int = 0,
        restore_best_weights: bool = True,
        verbose: bool = True,
    ) -> None:
        self.monitor = Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience = check_int(patience, "patience", minimum=0)
        self.baseline = check_optional(
            check_real, baseline, "baseline", minimum=None, allow_inf=True
        )
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", minimum=0)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.verbose = check_bool(verbose, "verbose")
        self._resumed = False
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.best = self.monitor.worst
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, Any] | None = None
        self._last_epoch: int | None = None

    # --- hooks -------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._resumed:  # state came from load_state_dict: carry on from it, once
            self._resumed = False
        else:
            self._reset()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = self.monitor.value(logs)
        self._last_epoch = epoch
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # e.g. a NaN value never improves: the first watched epoch is the best known
            self.best_weights = self.model.state_dict()
            self.best_epoch = epoch
        self.wait += 1
        if self.monitor.better(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self.monitor.better(current, self.baseline):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.stop_reason = self.reason()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if logs and "error" in logs:  # a failed fit keeps the weights the error describes
            return
        # No epoch in this fit: a finished run was resumed from its checkpoint. The weights
        # are put back again (the checkpoint holds the last epoch's), silently: the first
        # run already said why it stopped and what it restored.
        say = self.verbose and self._last_epoch is not None
        if self.stopped_epoch is not None and say:
            note(self.reason())
        if (
            self.restore_best_weights
            and self.best_weights is not None
            and self.best_epoch != self._last_epoch
        ):
            self.model.load_state_dict(self.best_weights)
            if say:
                note(
                    f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1} "
                    f"({self.monitor.key} {_fmt(self.best)})",
                )

    # --- description -------------------------------------------------------------------------
    def reason(self) -> str:
        """Why training stopped (or would stop now), in one line."""
        key = self.monitor.key
        epoch = self._last_epoch if self.stopped_epoch is None else self.stopped_epoch
        where = f"after epoch {epoch + 1}" if epoch is not None else "before any epoch"
        best = (
            f"best {key} {_fmt(self.best)} at epoch {self.best_epoch + 1}"
            if self.best_epoch is not None and math.isfinite(self.best)
            else f"no finite {key} seen"
        )
        if self.baseline is not None and not self.monitor.better(self.best, self.baseline):
            what = f"{key} did not beat the baseline {_fmt(self.baseline)} in {self.wait} epochs"
        else:
            what = f"{key} did not improve for {self.wait} epochs"
        delta = f", min_delta {self.monitor.min_delta:g}" if self.monitor.min_delta else ""
        return f"EarlyStopping: stopped {where}: {what} (patience {self.patience}{delta}); {best}"

    # --- state for resuming ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``wait``, ``best``, ``best_epoch``, ``stopped_epoch`` (plain values) and
        ``best_weights`` (``{name: ndarray}`` copies, or None)."""
        weights = self.best_weights
        return {
            "wait": self.wait,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": None if weights is None else {k: v.copy() for k, v in weights.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s values; the next ``fit`` carries on from them instead of
        starting afresh.

        Raises:
            ConfigError: other keys, a value of the wrong type or range, or best weights that
                are not this model's (names and shapes); nothing is set then.
        """
        if not isinstance(state, dict) or set(state) != set(_STATE_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ConfigError(f"state_dict: expected the keys {list(_STATE_KEYS)}, got {got}")
        wait = check_int(state["wait"], "state_dict['wait']", minimum=0)
        best = check_real(state["best"], "state_dict['best']", minimum=None, allow_inf=True)
        best_epoch, stopped_epoch = (
            check_optional(check_int, state[k], f"state_dict[{k!r}]", minimum=0)
            for k in ("best_epoch", "stopped_epoch")
        )
        weights = self._check_weights(state["best_weights"])
        if weights is not None and best_epoch is None:
            raise ConfigError(
                "state_dict['best_epoch']: expected the epoch of best_weights, got None"
            )
        if weights is None and best_epoch is not None and self.restore_best_weights:
            # they are kept together: without them a later epoch would become the best
            raise ConfigError(
                "state_dict['best_weights']: expected the weights of best_epoch "
                "(restore_best_weights is on), got None"
            )
        self.wait, self.best = wait, best
        self.best_epoch, self.stopped_epoch = best_epoch, stopped_epoch
        self.best_weights = None if weights is None else {k: v.copy() for k, v in weights.items()}
        self._last_epoch = None
        self._resumed = True

    def _check_weights(self, weights: Any) -> dict[str, Any] | None:
        """Saved best weights: None, or arrays with the names and shapes of the model's
        ``state_dict()`` (they are put back when training ends)."""
        if weights is None:
            return None
        if not isinstance(weights, dict) or not all(
            isinstance(v, np.ndarray) for v in weights.values()
        ):
            raise ConfigError(
                "state_dict['best_weights']: expected None or a dict of arrays, got "
                f"{weights!r:.80}"
            )
        if self.model is not None:
            model = self.model
            shapes = {
                n: t.data.shape for n, t in [*model.named_parameters(), *model.named_buffers()]
            }
            if set(weights) != set(shapes):
                raise ConfigError(
                    f"state_dict['best_weights']: expected the model's weights {list(shapes)}, "
                    f"got {list(weights)}"
                )
            for name, value in weights.items():
                if value.shape != shapes[name]:
                    raise ConfigError(
                        f"state_dict['best_weights'][{name!r}]: expected shape {shapes[name]}, "
                        f"got {value.shape}"
                    )
        return weights

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor.key!r}, mode={self.monitor.mode!r}, "
            f"min_delta={self.monitor.min_delta}, patience={self.patience}, "
            f"baseline={self.baseline}, start_from_epoch={self.start_from_epoch}, "
            f"restore_best_weights={self.restore_best_weights})"
        )


def _fmt(value: float) -> str:
    return f"{value:.6g}"
