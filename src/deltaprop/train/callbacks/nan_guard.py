"""The NaN/Inf policy of ``fit``: NanGuard (always on), and TerminateOnNaN (stop, not raise).

``fit`` never lets a NaN/Inf into the weights unnoticed. ``train_step`` refuses a non-finite
loss before stepping; :class:`NanGuard` then says where it happened and either raises
TrainingError or, while ``trainer.stop_on_nan`` is set (TerminateOnNaN sets it), stops training
cleanly. Weights that become non-finite while the loss stays finite are caught at the end of
the epoch and rolled back to the epoch's start.
"""

from __future__ import annotations

import math
from typing import Any

from ... import backend
from ...checks import check_bool
from ...errors import TrainingError
from ...report import note
from .base import Callback


class NanGuard(Callback):
    """The loop's own guard (not listed in ``trainer.callbacks``, so not in checkpoints).

    It keeps a copy of the weights from the start of every epoch, which is what a NaN/Inf
    in the weights rolls back to. The loop calls :meth:`loss_not_finite` when ``train_step``
    refused a loss, and :meth:`weights_finite` after every epoch.

    Args:
        epochs, steps: the run's epochs and steps per epoch, for the message.
    """

    def __init__(self, epochs: int, steps: int) -> None:
        self.epochs = epochs
        self.steps = steps
        self.params: list[Any] = []
        self.snapshot: list[Any] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.params = self.trainer.model.parameters()
        self.snapshot = [p.data.copy() for p in self.params]

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for saved, p in zip(self.snapshot, self.params, strict=True):
            saved[...] = p.data

    def loss_not_finite(self, value: float, epoch: int, step: int) -> None:
        """The loss of ``step`` (from 0) in ``epoch`` (from 0) was ``value``, NaN or Inf, and
        that step was not taken. Raises TrainingError, or stops training (``stop_on_nan``)."""
        what = "NaN" if value != value else "Inf"
        kept = "the weights from before that step were kept"
        if not self._all_finite():
            self._restore()
            kept = f"the weights were already non-finite, so those from the start of epoch " \
                f"{epoch + 1} were restored"  # fmt: skip
        lrs = sorted({g["lr"] for g in self.trainer.optimizer.param_groups})
        lr = lrs[0] if len(lrs) == 1 else lrs
        self._fail(
            TrainingError(
                f"loss became {what} at epoch {epoch + 1}, step {step + 1} ({self.steps} steps "
                f"per epoch, {self.epochs} epochs, lr {lr}); {kept}. Try a smaller learning "
                "rate, gradient clipping, or standardized inputs"
            )
        )

    def weights_finite(self, epoch: int) -> bool:
        """True when every weight is finite after ``epoch``; otherwise the weights from its
        start are put back and it raises TrainingError, or stops training and returns False."""
        if self._all_finite():
            return True
        self._restore()
        self._fail(
            TrainingError(
                f"weights became NaN/Inf during epoch {epoch + 1} (the loss stayed "
                "finite); the weights from the start of that epoch were restored. Try a "
                "smaller learning rate or gradient clipping"
            )
        )
        return False

    def _fail(self, error: TrainingError) -> None:
        trainer = self.trainer
        if not trainer.stop_on_nan:
            raise error from None
        trainer.nan_error = error
        trainer.stop_training = True
        trainer.stop_reason = str(error)

    def _all_finite(self) -> bool:
        for p in self.params:
            if not bool(backend.xp_of(p.data).isfinite(p.data).all()):
                return False
        return True

    def _restore(self) -> None:
        for p, saved in zip(self.params, self.snapshot, strict=True):
            p.data[...] = saved


class TerminateOnNaN(Callback):
    """Turn a NaN/Inf loss into a clean stop: ``fit`` returns its History instead of raising.

    Without this callback ``Trainer.fit`` raises TrainingError when the loss becomes NaN/Inf
    (before the step that would spread it into the weights). While this callback is listed it
    sets the trainer's ``stop_on_nan`` flag, and the trainer then: keeps the same last good
    weights, ends training at once (the unfinished epoch is not recorded), puts the message in
    ``trainer.stop_reason`` (and the error it replaced in ``trainer.nan_error``), and runs the
    usual ``on_train_end`` hooks, so EarlyStopping still restores its best weights and
    CSVLogger closes its file. This callback prints the message (``verbose``). Weights that
    become NaN/Inf while the loss stays finite stop training the same way (the weights from the
    start of that epoch are restored).

    An epoch whose mean loss is not finite also stops training, at the end of that epoch
    (Keras's check).
    """

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = check_bool(verbose, "verbose")
        self._previous = False
        self._stopped = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._previous = self.trainer.stop_on_nan
        self._stopped = False
        self.trainer.stop_on_nan = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self._stopped = True
            self.trainer.stop_training = True
            self.trainer.stop_reason = (
                f"the mean loss of epoch {epoch + 1} is {loss}; training stopped"
            )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        trainer = self.trainer
        trainer.stop_on_nan = self._previous
        stopped = self._stopped or getattr(trainer, "nan_error", None) is not None
        if self.verbose and stopped:
            note(f"TerminateOnNaN: {trainer.stop_reason}")
