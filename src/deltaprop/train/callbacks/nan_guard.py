"""The NaN/Inf and divergence policy of ``fit``: NanGuard (always on), and TerminateOnNaN (stop,
not raise).

``fit`` never keeps a NaN/Inf state unnoticed, nor a loss that ran away. ``train_step`` refuses
a non-finite loss before stepping; :class:`NanGuard` then says where it happened and either
raises TrainingError or, while ``trainer.stop_on_nan`` is set (TerminateOnNaN sets it), stops
training cleanly. At the end of every epoch, before any callback, checkpoint or model file
sees it, the guard checks the state and the epoch's loss:

- a parameter, a buffer (batch norm's running statistics) or an optimizer state that became
  NaN/Inf while the loss stayed finite, and
- divergence: an epoch loss more than ``trainer.divergence_factor`` (1e3) times the loss the
  run started from (:func:`start_loss`),

are handled like a NaN loss, after the state (weights, buffers, optimizer state) is rolled
back to the start of that epoch: the last state that passed the check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backend
from ...autograd.tensor import Tensor
from ...checks import check_bool
from ...config import no_grad
from ...errors import TrainingError
from ...report import note
from .. import penalty
from ..finite import LastGood, listed, non_finite
from .base import Callback

# Rows of the training set the start loss is measured on: a few hundred rows average out
# the noise of single rows, at the cost of one small forward pass per fit.
PROBE_ROWS = 256


def start_loss(trainer: Any, X: Any, y: Any) -> tuple[float, str] | None:
    """The loss that divergence is measured against, and what it is, in words.

    The larger of (a) the model's own loss as ``fit`` starts (eval mode, no graph; the l1/l2
    penalty included, as in the epoch loss) and (b) the loss of an output of zeros (log k for
    k-class cross-entropy, the mean of y^2 for MSE), both on up to :data:`PROBE_ROWS` rows
    spread evenly over ``X`` (N, ...) and ``y`` (N, ...). (b) is the floor: a model that starts
    near zero loss (training carried on, fine-tuning) may rise by orders of magnitude and
    still fit well; (a) keeps a model that starts far above (b) (a large initialization) from
    being called diverged while its loss falls. Measuring draws no random number and changes
    no buffer, so the run goes on bit for bit as without it. A resumed run measures the model
    it resumed (the start of the first run is not saved); with (b) as the floor that differs
    only for a model that started far above (b). None when neither is finite and > 0 (a loss
    that can be negative): the check is then off.
    """
    n = X.shape[0]
    stride = max(1, n // PROBE_ROWS)
    Xs, ys = X[::stride][:PROBE_ROWS], y[::stride][:PROBE_ROWS]
    rows = Xs.shape[0]
    call = trainer._loss_call
    with trainer.model.evaluating(), no_grad(), np.errstate(all="ignore"):
        out = trainer.model(Tensor._wrap(Xs)).data
        own = float(call(Tensor._wrap(out), ys).data) + penalty.value(trainer._penalties)
        zero = float(call(Tensor._wrap(backend.xp_of(out).zeros_like(out)), ys).data)
    if not trainer._loss_per_row:  # summed losses: per row, as the epoch's loss is
        own, zero = own / rows, zero / rows
    found = [
        (value, what)
        for value, what in ((own, "the loss at the start"), (zero, "the loss of zero outputs"))
        if math.isfinite(value) and value > 0
    ]
    return max(found) if found else None


class NanGuard(Callback):
    """The loop's own guard (not listed in ``trainer.callbacks``, so not in checkpoints).

    It keeps a copy of the last state that passed its check (:class:`~deltaprop.train.finite.
    LastGood`: parameters, buffers, optimizer state), taken as training starts and after
    every epoch that passes; that copy is what a NaN/Inf or a divergence rolls back to. The
    loop calls :meth:`loss_not_finite` when ``train_step`` refused a loss, and
    :meth:`epoch_end` after every epoch, before the epoch's callbacks and checkpoint.

    Args:
        epochs, steps: the run's epochs and steps per epoch, for the message.
        probe: (X, y) to measure :func:`start_loss` on; None turns the divergence check off,
            as does ``trainer.divergence_factor = None``.
    """

    def __init__(self, epochs: int, steps: int, probe: tuple[Any, Any] | None = None) -> None:
        self.epochs = epochs
        self.steps = steps
        self.probe = probe
        self.last_good: LastGood | None = None
        self.factor: float | None = None
        self.reference: tuple[float, str] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        trainer = self.trainer
        found = non_finite(trainer.model, trainer.optimizer)
        if found:  # nothing good to roll back to: refuse to start
            raise TrainingError(
                f"{listed(found)} is NaN/Inf before training starts; nothing was trained. "
                "Load or build a model (and optimizer) with finite values"
            )
        self.last_good = LastGood(trainer.model, trainer.optimizer)
        self.factor = trainer.divergence_factor
        self.reference = None
        if self.factor is not None and self.probe is not None:
            self.reference = start_loss(trainer, *self.probe)

    def loss_not_finite(self, value: float, epoch: int, step: int) -> None:
        """The loss of ``step`` (from 0) in ``epoch`` (from 0) was ``value``, NaN or Inf, and
        that step was not taken. Raises TrainingError, or stops training (``stop_on_nan``)."""
        what = "NaN" if value != value else "Inf"
        kept = "the weights from before that step were kept"
        found = non_finite(self.trainer.model, self.trainer.optimizer)
        if found:  # the forward pass may have spoilt buffers (running statistics) too
            self.last_good.restore()
            kept = f"{listed(found)} had become NaN/Inf, so the weights, buffers and " \
                f"optimizer state from the start of epoch {epoch + 1} were restored"  # fmt: skip
        self._fail(
            TrainingError(
                f"loss became {what} at epoch {epoch + 1}, step {step + 1} ({self.steps} steps "
                f"per epoch, {self.epochs} epochs, lr {self._lr()}); {kept}. Try a smaller "
                "learning rate, gradient clipping, or standardized inputs"
            )
        )

    def epoch_end(self, epoch: int, loss: float) -> bool:
        """True when the state after ``epoch`` is finite and its mean ``loss`` did not
        diverge; the state is then the new last good one. Otherwise the last good state is
        put back and it raises TrainingError, or stops training and returns False."""
        trainer = self.trainer
        found = non_finite(trainer.model, trainer.optimizer)
        if found:
            first = found[0]
            kind = "weights" if first.startswith("parameter") else "buffers"
            kind = "optimizer state" if first.startswith("optimizer") else kind
            error = TrainingError(
                f"{kind} became NaN/Inf during epoch {epoch + 1} ({listed(found)}; the loss "
                "stayed finite); the weights, buffers and optimizer state from the start of "
                "that epoch were restored. Try a smaller learning rate or gradient clipping"
            )
        elif self.reference is not None and loss > self.factor * self.reference[0]:
            start, what = self.reference
            error = TrainingError(
                f"loss diverged in epoch {epoch + 1}: its mean {loss:.4g} is more than "
                f"{self.factor:g} times {what} ({start:.4g}) ({self.steps} steps per epoch, "
                f"{self.epochs} epochs, lr {self._lr()}); the weights, buffers and optimizer "
                f"state from the start of epoch {epoch + 1} were restored. Try a smaller "
                "learning rate or gradient clipping (Trainer(divergence_factor=None) turns "
                "this check off)"
            )
        else:
            self.last_good.take()
            return True
        self.last_good.restore()
        self._fail(error)
        return False

    def _lr(self) -> Any:
        lrs = sorted({g["lr"] for g in self.trainer.optimizer.param_groups})
        return lrs[0] if len(lrs) == 1 else lrs

    def _fail(self, error: TrainingError) -> None:
        trainer = self.trainer
        if not trainer.stop_on_nan:
            raise error from None
        trainer.nan_error = error
        trainer.stop_training = True
        trainer.stop_reason = str(error)


class TerminateOnNaN(Callback):
    """Turn a NaN/Inf loss (or a diverged one) into a clean stop: ``fit`` returns its History
    instead of raising.

    Without this callback ``Trainer.fit`` raises TrainingError when the loss becomes NaN/Inf
    (before the step that would spread it into the weights). While this callback is listed it
    sets the trainer's ``stop_on_nan`` flag, and the trainer then: keeps the same last good
    weights, ends training at once (the unfinished epoch is not recorded), puts the message in
    ``trainer.stop_reason`` (and the error it replaced in ``trainer.nan_error``), and runs the
    usual ``on_train_end`` hooks, so EarlyStopping still restores its best weights and
    CSVLogger closes its file. This callback prints the message (``verbose``). Weights,
    buffers or optimizer state that become NaN/Inf while the loss stays finite, and a loss
    that diverges (see ``Trainer(divergence_factor=...)``), stop training the same way (the
    state from the start of that epoch is restored, and that epoch is not recorded).

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
