"""TerminateOnNaN: a NaN/Inf loss ends training cleanly instead of raising."""

from __future__ import annotations

import math
from typing import Any

from ._monitor import check_flag
from .base import Callback


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
        self.verbose = check_flag(verbose, "verbose")
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
            print(f"TerminateOnNaN: {trainer.stop_reason}", flush=True)
