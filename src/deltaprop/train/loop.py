"""The epoch loop of :meth:`Trainer.fit <deltaprop.train.trainer.Trainer.fit>`.

``fit`` checks its arguments, prepares the arrays once and fills an :class:`EpochLoop`: named
fields for the run's settings, and for what the Trainer lends the loop (its step function,
its evaluation, how its metric is averaged). :meth:`EpochLoop.run` then trains: batches for
the descent mode, metrics from the same forward passes, validation, a learning-rate schedule,
a printed line every ``log_every`` epochs, a checkpoint per epoch and the callback hooks, and,
when ``fit`` was given one, the augmentation of the training batches
(:mod:`~deltaprop.train.augmenting`). The NaN/Inf and divergence policy lives in
:class:`~deltaprop.train.callbacks.nan_guard.NanGuard`, which checks every epoch before its
callbacks and its checkpoint see it.

Speed: everything the per-step path needs is bound to locals once per epoch; a step is one call
of the trainer's step function plus running sums in Python floats, and no dict is allocated per
step unless callbacks are listening.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from .. import backend
from ..data.loader import epoch_batches, n_batches
from ..errors import TrainingError
from . import augmenting
from . import state as _state
from .callbacks import History, ProgressBar
from .callbacks.nan_guard import NanGuard
from .display import PROGRESS_MIN_BATCHES, format_line, is_terminal, progress


class NonFiniteLoss(TrainingError):
    """Raised by ``train_step`` before the step is taken; the loop adds where it happened."""

    def __init__(self, value: float) -> None:
        super().__init__(f"loss became {value} (the step was not taken; weights unchanged)")
        self.value = value


@dataclass(eq=False)
class EpochLoop:
    """One ``fit``: the settings, checked, and what the Trainer lends the loop.

    ``X`` (N, ...) and ``y`` (N, ...) are prepared arrays; ``val`` is (X_val, y_val) or None.
    ``batch_size`` is resolved for ``descent`` (N for "batch", 1 for "stochastic");
    ``shuffle`` is already False where the order changes nothing.
    """

    trainer: Any  # used through its public attributes (model, optimizer, callbacks, flags)
    X: Any
    y: Any
    epochs: int
    descent: str
    batch_size: int
    val: tuple[Any, Any] | None
    log_every: int
    shuffle: bool
    seed: int | None
    verbose: bool
    drop_last: bool
    # lent by the Trainer:
    step: Callable[[Any, Any], tuple[float, Any]]  # (xb, yb) -> (loss, metric batch sum)
    evaluate: Callable[[Any, Any], dict[str, float]]  # validation scores
    metric: str | None  # the streaming metric's name (its batch sums come from ``step``)
    metric_columns: int  # values per row the metric averages over (regression targets)
    loss_per_row: bool  # batch losses are means: weight them by the batch's rows
    grad_norm: Callable[[], float] | None = None  # mean pre-clip norm of the epoch; resets
    schedule_epoch: Callable[[], Any] | None = None  # a per-epoch schedule's step
    augment: Any = None  # the fitted Augment of the training batches, or None
    writer: Any = None  # the checkpoint Writer (see :meth:`open_checkpoints`)
    resume: Any = None  # the TrainingState to carry on from
    # set by run():
    rng: Any = field(init=False, default=None)  # shuffles the rows
    augment_rng: Any = field(init=False, default=None)  # the augmentation's own generator
    steps: int = field(init=False, default=0)  # batches per epoch
    guard: NanGuard | None = field(init=False, default=None)
    bar: bool = field(init=False, default=False)  # the automatic progress bar

    def open_checkpoints(self, checkpoint: Any, resume_from: Any) -> None:
        """Check both paths, read and check the state to resume from, prepare the Writer.
        Nothing is touched: a bad file raises before any training state changes."""
        trainer = self.trainer
        if checkpoint is not None:
            checkpoint = _state.check_path(checkpoint, "checkpoint")
            _state.check_trainer(trainer)
        if resume_from is not None:
            resume_from = _state.check_path(resume_from, "resume_from")
        n_val = None if self.val is None else self.val[0].shape[0]
        n = self.X.shape[0]
        augment = None if self.augment is None else self.augment.spec()
        settings = _state.fit_settings(
            self.descent,
            self.batch_size,
            n,
            n_val,
            self.shuffle,
            self.seed,
            self.drop_last,
            augment,
        )
        fresh = _state.same_path(checkpoint, resume_from) and not os.path.exists(resume_from)
        if resume_from is not None and not fresh:
            self.resume = _state.read(resume_from)
            self.resume.check(trainer, settings)
        if checkpoint is not None:
            self.writer = _state.Writer(checkpoint, settings)

    # --- the run ---------------------------------------------------------------------------
    def run(self) -> History:
        """Train for the remaining epochs; return the History (also ``trainer.history``)."""
        trainer = self.trainer
        self.rng = backend.spawn_rng(self.seed) if self.seed is not None else backend.rng()
        if self.augment is not None:
            self.augment_rng = augmenting.generator(self.seed)
        self.steps = n_batches(self.X.shape[0], self.batch_size, self.drop_last)
        history = History()
        history.set_trainer(trainer)
        history.params = {
            "epochs": self.epochs, "descent": self.descent, "batch_size": self.batch_size,
            "steps": self.steps,
        }  # fmt: skip
        history.on_train_begin()
        trainer.history = history
        trainer.stop_training = False
        trainer.stop_reason = None
        trainer.nan_error = None
        self.guard = NanGuard(self.epochs, self.steps, probe=(self.X, self.y))
        self.guard.set_trainer(trainer)
        self.bar = self.verbose and self.steps > PROGRESS_MIN_BATCHES and is_terminal()
        self.bar = self.bar and not any(isinstance(cb, ProgressBar) for cb in trainer.callbacks)
        start = 0
        if self.resume is not None:  # before on_train_begin: callbacks carry on from their state
            self.rng = self.resume.restore(trainer, history, self.rng)
            self.augment_rng = self.resume.augment_generator(self.augment_rng)
            start = self.epochs if trainer.stop_training else self.resume.epoch
            if self.verbose:
                path, epoch = self.resume.path, self.resume.epoch
                print(f"resumed from {path} after epoch {epoch}", flush=True)
        with trainer.model.training_mode():
            self._epochs(start, history)
        return history

    def _epochs(self, start: int, history: History) -> None:
        """Epochs ``start..epochs-1`` between ``on_train_begin`` and ``on_train_end``, which
        also runs (with ``logs["error"]``) when training fails."""
        trainer, cbs = self.trainer, self.trainer.callbacks
        has_cb = bool(cbs)
        logs: dict[str, Any] = {}
        try:
            self.guard.on_train_begin()
            if has_cb:
                cbs.on_train_begin(logs)
            if self.resume is not None:
                logs = self.resume.logs  # what on_train_end sees when no epoch is left
            for epoch in range(start, self.epochs):
                epoch_logs = self._epoch(epoch, has_cb)
                if epoch_logs is None:
                    break  # stopped on NaN/Inf: the unfinished epoch is not recorded
                logs = epoch_logs
                if has_cb:
                    cbs.on_epoch_end(epoch, logs)
                history.on_epoch_end(epoch, logs)  # last, so values callbacks add are kept
                if self.schedule_epoch is not None:
                    self.schedule_epoch()
                if self.writer is not None:
                    self.writer.write(
                        trainer, epoch, self.epochs, history, self.rng, logs, self.augment_rng
                    )
                last = epoch == self.epochs - 1 or trainer.stop_training
                if self.verbose and ((epoch + 1) % self.log_every == 0 or last):
                    print(format_line(epoch, self.epochs, logs), flush=True)
                if trainer.stop_training:
                    break
        except BaseException as exc:
            if has_cb:
                cbs.on_train_end({**logs, "error": exc})
            raise
        if has_cb:
            cbs.on_train_end(logs)

    def _epoch(self, epoch: int, has_cb: bool) -> dict[str, Any] | None:
        """One pass over the rows; the epoch's logs, or None when the NaN guard stopped it."""
        trainer, cbs, guard = self.trainer, self.trainer.callbacks, self.guard
        if has_cb:
            cbs.on_epoch_begin(epoch, {})
        lr = trainer.optimizer.param_groups[0]["lr"]  # after the hook: a callback may set it
        t0 = perf_counter()
        step, per_row, has_stat = self.step, self.loss_per_row, self.metric is not None
        loss_sum = 0.0
        stat_sum = 0
        bs = self.batch_size
        batch_begin = has_cb and cbs.listens("on_batch_begin")  # decided once per epoch
        batch_end = has_cb and cbs.listens("on_batch_end")
        if self.augment is None:
            batches = epoch_batches(self.X, self.y, bs, self.shuffle, self.rng, self.drop_last)
        else:  # chosen per epoch: the plain path above pays nothing for augmentation
            batches = augmenting.batches(
                self.X, self.y, bs, self.shuffle, self.rng, self.drop_last, self.augment,
                self.augment_rng,
            )  # fmt: skip
        if self.bar:
            batches = progress(batches, self.steps, epoch, self.epochs)
        i = 0
        for xb, yb in batches:
            nb = xb.shape[0]
            if batch_begin:
                cbs.on_batch_begin(i, {"batch": i, "size": nb})
            try:
                value, stat = step(xb, yb)
            except NonFiniteLoss as exc:
                guard.loss_not_finite(exc.value, epoch, i)  # raises, or stops training
                if self.bar:
                    batches.close()
                return None
            loss_sum += value * nb if per_row else value
            if has_stat:
                stat_sum += stat
            if batch_end:
                cbs.on_batch_end(i, {"batch": i, "size": nb, "loss": value})
            i += 1
        rows = self.X.shape[0] - self.X.shape[0] % bs if self.drop_last else self.X.shape[0]
        loss = loss_sum / rows
        # The guard sees the epoch first: no callback, checkpoint or model file ever gets a
        # state that is not finite, or one whose loss diverged (the state is rolled back).
        if not guard.epoch_end(epoch, loss):
            return None
        logs: dict[str, Any] = {"loss": loss}
        if has_stat:
            logs[self.metric] = stat_sum / (rows * self.metric_columns)
        if self.val is not None:
            for key, value in self.evaluate(*self.val).items():
                logs["val_" + key] = value
        logs["lr"] = lr
        if self.grad_norm is not None:
            logs["grad_norm"] = self.grad_norm()
        logs["epoch_seconds"] = perf_counter() - t0
        return logs
