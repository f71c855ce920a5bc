"""The epoch loop of :meth:`Trainer.fit <deltaprop.train.trainer.Trainer.fit>`.

``fit`` checks its arguments and hands the prepared arrays to :func:`run`: batches for the
descent mode, metrics from the same forward passes, validation, a learning-rate schedule, a
printed line every ``log_every`` epochs, a checkpoint per epoch and a few callback hooks; a
NaN/Inf loss (or weights) restores the last good weights and raises, or stops cleanly with
``stop_on_nan``. :func:`checkpointing` prepares the checkpoint Writer and the state to resume
from before anything is touched.

Speed: everything the per-step path needs is bound to locals once, before the loop; a step is
one call of the trainer's step function plus running sums in Python floats, and no dict is
allocated per step unless callbacks are listening.
"""

from __future__ import annotations

import os
from time import perf_counter
from typing import Any

from .. import backend
from ..data.loader import iterate_batches, n_batches
from ..errors import TrainingError
from . import checkpoint as _checkpoint
from . import inputs
from .callbacks import History, ProgressBar
from .display import PROGRESS_MIN_BATCHES, format_line, is_terminal, progress


class _NonFiniteLoss(TrainingError):
    """Raised by train_step before the step is taken; the loop adds where it happened."""

    def __init__(self, value: float) -> None:
        super().__init__(f"loss became {value} (the step was not taken; weights unchanged)")
        self.value = value


def checkpointing(trainer, checkpoint, resume_from, descent, bs, n, val, shuffle, seed):
    """The checkpoint Writer and the TrainingState to resume from (each or None), all
    checked; nothing is touched."""
    if checkpoint is not None:
        checkpoint = _checkpoint.check_path(checkpoint, "checkpoint")
        _checkpoint.check_trainer(trainer)
    if resume_from is not None:
        resume_from = _checkpoint.check_path(resume_from, "resume_from")
    n_val = None if val is None else val[0].shape[0]
    shuffled = shuffle and descent != "batch"
    settings = _checkpoint.fit_settings(descent, bs, n, n_val, shuffled, seed)
    resume = None
    fresh = _checkpoint.same_path(checkpoint, resume_from) and not os.path.exists(resume_from)
    if resume_from is not None and not fresh:
        resume = _checkpoint.read(resume_from)
        resume.check(trainer, settings)
    writer = None if checkpoint is None else _checkpoint.Writer(checkpoint, settings)
    return writer, resume


def run(
    trainer, X, y, epochs, descent, bs, val, log_every, shuffle, seed, verbose, writer, resume,
    drop_last=False,
) -> History:  # fmt: skip
    """Train ``trainer`` for ``epochs`` epochs on prepared arrays; return the History.

    Everything was checked by ``fit``; ``writer`` and ``resume`` come from
    :func:`checkpointing` (or are None).
    """
    model = trainer.model
    rng = backend.spawn_rng(seed) if seed is not None else backend.rng()
    shuffle = shuffle and descent != "batch"  # one full batch: the order changes nothing
    n = X.shape[0]
    steps = n_batches(n, bs, drop_last)
    trainer._refresh_grad_params()
    params = model.parameters()
    snapshot = [p.data.copy() for p in params]
    history = History()
    history.set_trainer(trainer)
    history.params = {"epochs": epochs, "descent": descent, "batch_size": bs, "steps": steps}
    history.on_train_begin()
    trainer.history = history
    trainer.stop_training = False
    trainer.stop_reason = None
    trainer.nan_error = None
    cbs = trainer.callbacks
    has_cb = bool(cbs)
    rows = n - n % bs if drop_last else n  # the rows an epoch trains on
    stat_denom = rows * (y.shape[1] if y.ndim == 2 and trainer._kind == "regression" else 1)
    bar = verbose and steps > PROGRESS_MIN_BATCHES and is_terminal()
    bar = bar and not any(isinstance(cb, ProgressBar) for cb in cbs)
    # Decided once: the step, wrapped to step a per-batch schedule when there is one.
    train_step = trainer._step_function()
    schedule_epoch = (
        trainer.scheduler.step
        if trainer.scheduler is not None and trainer.scheduler_interval == "epoch"
        else None
    )
    log_norm = trainer.clip_norm is not None
    optimizer = trainer.optimizer
    has_stat = trainer._batch_stat is not None
    per_row = trainer._loss_per_row
    modes = inputs.module_modes(model)
    logs: dict[str, Any] = {}
    start = 0
    if resume is not None:  # before on_train_begin: callbacks carry on from their state
        rng = resume.restore(trainer, history, rng)
        start = epochs if trainer.stop_training else resume.epoch
        if verbose:
            print(f"resumed from {resume.path} after epoch {resume.epoch}", flush=True)
    try:
        model.train()
        if has_cb:
            cbs.on_train_begin(logs)
        if resume is not None:
            logs = resume.logs  # what on_train_end sees when no epoch is left
        for epoch in range(start, epochs):
            if has_cb:
                cbs.on_epoch_begin(epoch, {})
            lr = optimizer.param_groups[0]["lr"]  # after the hook: a callback may set it
            for saved, p in zip(snapshot, params, strict=True):
                saved[...] = p.data
            trainer._norm_sum = 0.0
            trainer._norm_steps = 0
            t0 = perf_counter()
            loss_sum = 0.0
            stat_sum = 0
            batches = iterate_batches(X, y, bs, shuffle=shuffle, rng=rng, drop_last=drop_last)
            if bar:
                batches = progress(batches, steps, epoch, epochs)
            step = 0
            for xb, yb in batches:
                nb = xb.shape[0]
                if has_cb:
                    cbs.on_batch_begin(step, {"batch": step, "size": nb})
                try:
                    value, stat = train_step(xb, yb)
                except _NonFiniteLoss as exc:
                    error = _nan_error(trainer, exc, epoch, epochs, step, steps, params, snapshot)
                    if not trainer.stop_on_nan:
                        raise error from None
                    _stop_on_nan(trainer, error)
                    break
                loss_sum += value * nb if per_row else value
                if has_stat:
                    stat_sum += stat
                if has_cb:
                    cbs.on_batch_end(step, {"batch": step, "size": nb, "loss": value})
                step += 1
            if trainer.nan_error is not None:
                if bar:
                    batches.close()
                break  # the unfinished epoch is not recorded
            if not _all_finite(params):
                _restore(params, snapshot)
                error = TrainingError(
                    f"weights became NaN/Inf during epoch {epoch + 1} (the loss stayed "
                    "finite); the weights from the start of that epoch were restored. Try a "
                    "smaller learning rate or gradient clipping"
                )
                if not trainer.stop_on_nan:
                    raise error
                _stop_on_nan(trainer, error)
                break
            logs = {"loss": loss_sum / rows}
            if has_stat:
                logs[trainer._streaming[0].name] = stat_sum / stat_denom
            if val is not None:
                for key, value in trainer._evaluate_arrays(*val, None).items():
                    logs["val_" + key] = value
            logs["lr"] = lr
            if log_norm:
                logs["grad_norm"] = trainer._norm_sum / max(trainer._norm_steps, 1)
            logs["epoch_seconds"] = perf_counter() - t0
            if has_cb:
                cbs.on_epoch_end(epoch, logs)
            history.on_epoch_end(epoch, logs)  # last, so values callbacks add are kept
            if schedule_epoch is not None:
                schedule_epoch()
            if writer is not None:
                writer.write(trainer, epoch, epochs, history, rng, logs)
            last = epoch == epochs - 1 or trainer.stop_training
            if verbose and ((epoch + 1) % log_every == 0 or last):
                print(format_line(epoch, epochs, logs), flush=True)
            if trainer.stop_training:
                break
    except BaseException as exc:
        if has_cb:
            cbs.on_train_end({**logs, "error": exc})
        raise
    else:
        if has_cb:
            cbs.on_train_end(logs)
    finally:
        inputs.restore_modes(modes)
    return history


def _stop_on_nan(trainer, error: TrainingError) -> None:
    trainer.nan_error = error
    trainer.stop_training = True
    trainer.stop_reason = str(error)


def _nan_error(trainer, exc, epoch, epochs, step, steps, params, snapshot) -> TrainingError:
    what = "NaN" if exc.value != exc.value else "Inf"
    kept = "the weights from before that step were kept"
    if not _all_finite(params):
        _restore(params, snapshot)
        kept = f"the weights were already non-finite, so those from the start of epoch " \
            f"{epoch + 1} were restored"  # fmt: skip
    lrs = sorted({g["lr"] for g in trainer.optimizer.param_groups})
    lr = lrs[0] if len(lrs) == 1 else lrs
    return TrainingError(
        f"loss became {what} at epoch {epoch + 1}, step {step + 1} ({steps} steps per epoch, "
        f"{epochs} epochs, lr {lr}); {kept}. Try a smaller learning rate, gradient "
        "clipping, or standardized inputs"
    )


def _all_finite(params) -> bool:
    for p in params:
        if not bool(backend.xp_of(p.data).isfinite(p.data).all()):
            return False
    return True


def _restore(params, snapshot) -> None:
    for p, saved in zip(params, snapshot, strict=True):
        p.data[...] = saved
