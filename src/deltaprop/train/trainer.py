"""Trainer: fit / evaluate / predict around one small ``train_step``.

``train_step`` reads as the method does: forward, loss (+ penalty), backward, clip, step.
``fit`` checks its arguments and prepares the data once, then hands over to the epoch loop in
:mod:`deltaprop.train.loop` (batches, metrics, validation, schedules, logging, checkpoints,
callback hooks); ``evaluate`` and ``predict`` come from :mod:`deltaprop.train.inference`.

Speed: benchmarks hold ``fit`` to within a few tens of percent of a hand-written NumPy loop, even
at batch size 1. So all checking happens once, up front; the per-step path wraps the batch views
without conversion, calls the fused loss Function directly for the common losses, keeps running
sums in Python floats, and allocates no dicts unless callbacks are listening. Options that act
per step (penalties, clipping) cost one attribute test each when off; a per-step schedule is
wrapped around the step once, before the loop.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..autograd.engine import backward as _backward
from ..autograd.tensor import Tensor
from ..data.loader import resolve_batch_size
from ..errors import ConfigError, TrainingError
from ..nn.losses import get_loss
from ..nn.module import Module
from ..optim import Optimizer, get_optimizer
from ..optim.clip import clip_grad_norm, clip_grad_value
from . import inputs, loop, penalty, validation
from .callbacks import CallbackList, History
from .inference import Inference, _fast_loss_call, _loss_kind
from .loop import _NonFiniteLoss
from .metrics import TASKS, resolve_metrics

_DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}


class Trainer(Inference):
    """Train, evaluate and predict with a model, a loss and an optimizer (Keras-style ``fit``).

    Args:
        model: a Module mapping (N, n_features) to (N, n_outputs) (logits for classification).
        loss: a loss Module (``nn.CrossEntropyLoss()``, ...) or its name (``"cross_entropy"``,
            ``"mse"``, ``"bce_with_logits"``, ``"huber"``, ``"nll"``).
        optimizer: an Optimizer, or a name (``"sgd"``) built on ``model.parameters()`` with
            ``lr``; None for a Trainer that only evaluates and predicts.
        metrics: names reported besides the loss; default ``["accuracy"]`` for classification
            and ``["mae"]`` for regression (see :mod:`deltaprop.train.metrics`).
        callbacks: Callback instances, called in order.
        task: ``"classification"`` or ``"regression"``; None takes the loss's ``task``.
        lr: learning rate when ``optimizer`` is a name.
        scheduler: a learning-rate schedule built on ``optimizer`` (:mod:`deltaprop.optim.
            schedules`, or anything with ``step()`` and ``optimizer``); ``fit`` calls its
            ``step()`` after every epoch, or after every batch with ``scheduler_interval=
            "step"``. Plateau schedules need a metric: use the ReduceLROnPlateau callback.
        scheduler_interval: ``"epoch"`` or ``"step"``.
        clip_norm: rescale all gradients together so that their global L2 norm is at most
            this, between backward and the step (:func:`deltaprop.optim.clip_grad_norm`);
            ``math.inf`` only measures. The norm before clipping is logged as ``grad_norm``:
            its mean over the epoch's steps.
        clip_value: clamp every gradient entry into ``[-clip_value, clip_value]`` (after
            ``clip_norm`` when both are set).
        l1, l2: penalties ``l1 * sum|W| + l2 * sum W^2`` over the weights of every Linear
            layer (biases and normalization parameters are not penalized), added to the
            training loss, to its gradient and to the reported ``loss``; a layer's own
            ``Linear(..., l1=, l2=)`` add to these. Layers are collected once, here.
            ``val_loss`` and ``evaluate`` report the data loss alone.

    Attributes:
        stop_training: a callback sets it to end ``fit`` after the current epoch.
        stop_reason: why the last ``fit`` ended early, set by the callback (or NaN stop) that
            ended it; None when it ran all its epochs.
        stop_on_nan: when True, a NaN/Inf loss (or weights) ends ``fit`` cleanly instead of
            raising; the TrainingError it would have raised is kept in ``nan_error``. The
            TerminateOnNaN callback sets it while it is listed.
        history: the History of the last ``fit``.
    """

    def __init__(
        self,
        model: Module,
        loss: Any,
        optimizer: Optimizer | str | None,
        metrics: Any = None,
        callbacks: Any = (),
        task: str | None = None,
        lr: float | None = None,
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
        clip_norm: float | None = None,
        clip_value: float | None = None,
        l1: float = 0.0,
        l2: float = 0.0,
    ) -> None:
        if not isinstance(model, Module):
            raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
        loss = get_loss(loss) if isinstance(loss, str) else loss
        if not callable(loss):
            raise ConfigError(f"loss: expected a loss Module or name, got {type(loss).__name__}")
        loss_task = getattr(loss, "task", None)
        if task is None:
            task = loss_task
            if task is None:
                raise ConfigError(
                    f"task: {type(loss).__name__} does not say its task; pass "
                    f"task='classification' or task='regression'"
                )
        if task not in TASKS:
            raise ConfigError(f"task: expected one of {list(TASKS)}, got {task!r}")
        if loss_task is not None and loss_task != task:
            raise ConfigError(
                f"task: {task!r} does not fit {type(loss).__name__}, a {loss_task} loss"
            )
        reduction = getattr(loss, "reduction", "mean")
        if reduction not in ("mean", "sum"):
            raise ConfigError(
                f"loss: the Trainer needs a loss reduced to one number (reduction 'mean' or "
                f"'sum'), got reduction={reduction!r}"
            )
        if isinstance(optimizer, str):
            if lr is None:
                raise ConfigError(f"lr: needed when optimizer is a name ({optimizer!r})")
            optimizer = get_optimizer(optimizer, model.parameters(), lr=lr)
        elif optimizer is not None and not isinstance(optimizer, Optimizer):
            raise ConfigError(
                f"optimizer: expected an Optimizer, a name or None, got {type(optimizer).__name__}"
            )
        elif lr is not None:
            raise ConfigError("lr: only used when optimizer is a name; set it on the Optimizer")
        resolved = resolve_metrics(_DEFAULT_METRICS[task] if metrics is None else metrics, task)
        scheduler_interval = inputs.check_scheduler(scheduler, scheduler_interval, optimizer)
        if clip_norm is not None:
            clip_norm = inputs.check_clip_norm(clip_norm)
        if clip_value is not None:
            clip_value = inputs.check_real(clip_value, "clip_value", strict=True)
        l1 = inputs.check_real(l1, "l1")
        l2 = inputs.check_real(l2, "l2")

        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.task = task
        self.metrics = [m.name for m in resolved]
        self._streaming = [m for m in resolved if m.streaming]
        self._whole = [m for m in resolved if not m.streaming]
        self.callbacks = CallbackList(callbacks, trainer=self)
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.l1 = l1
        self.l2 = l2
        self.stop_training = False
        self.stop_reason: str | None = None
        self.stop_on_nan = False
        self.nan_error: TrainingError | None = None
        self.history: History | None = None
        self._penalties = penalty.collect(model, l1, l2)
        self._norm_sum = 0.0  # sum of the pre-clip norms of the epoch's steps so far
        self._norm_steps = 0
        self._kind = _loss_kind(loss, task)
        self._loss_call = _fast_loss_call(loss, self._kind)
        # Loss values are batch means (or sums): weight a mean by the batch's rows.
        self._loss_per_row = reduction == "mean"
        self._batch_stat = self._streaming[0].batch_sum if self._streaming else None
        self._grad_params: list[Tensor] = []
        self._refresh_grad_params()

    def _refresh_grad_params(self) -> None:
        """Everything whose gradient must be cleared before backward (model and optimizer)."""
        params = list(self.model.parameters())
        seen = {id(p) for p in params}
        if self.optimizer is not None:
            params += [p for p in self.optimizer.params if id(p) not in seen]
        self._grad_params = params
        self._clip_params = [] if self.optimizer is None else self.optimizer.params

    # --- one step ----------------------------------------------------------------------------
    def train_step(self, xb, yb) -> tuple[float, float | None]:
        """Forward, loss (+ penalty), backward, clip, optimizer step on one batch.

        ``xb``/``yb`` must already be validated arrays in the model's dtype and on its device
        (``fit`` prepares them once); nothing is checked here.

        Returns:
            (the batch loss including the l1/l2 penalty, the batch sum of the streaming
            metric, e.g. the number of correct predictions for accuracy; None without one).

        Raises:
            TrainingError: the loss is NaN/Inf; the step is not taken, the weights are unchanged.
        """
        out = self.model(Tensor._wrap(xb))
        loss = self._loss_call(out, yb)
        value = float(loss.data)
        if self._penalties:
            value += penalty.value(self._penalties)
        if not math.isfinite(value):
            raise _NonFiniteLoss(value)
        stat = None if self._batch_stat is None else self._batch_stat(out.data, yb)
        for p in self._grad_params:
            p.grad = None
        _backward(loss)
        if self._penalties:
            penalty.add_gradients(self._penalties)  # closed form; see train/penalty.py
        if self.clip_norm is not None:
            self._norm_sum += clip_grad_norm(self._clip_params, self.clip_norm)
            self._norm_steps += 1
        if self.clip_value is not None:
            clip_grad_value(self._clip_params, self.clip_value)
        self.optimizer.step()
        return value, stat

    def _step_function(self):
        """The step the loop calls per batch, chosen once: :meth:`train_step`, wrapped to step
        a per-step schedule after it."""
        step = self.train_step
        if self.scheduler is None or self.scheduler_interval != "step":
            return step
        schedule_step = self.scheduler.step

        def step_and_schedule(xb, yb):
            result = step(xb, yb)
            schedule_step()
            return result

        return step_and_schedule

    # --- fit: checks, then the loop (train/loop.py) -------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = 1,
        descent: str = "minibatch",
        batch_size: int | None = 32,
        validation_data: tuple[Any, Any] | None = None,
        log_every: int = 1,
        shuffle: bool = True,
        seed: int | None = None,
        verbose: bool = True,
        validation_split: float | None = None,
        checkpoint: str | os.PathLike | None = None,
        resume_from: str | os.PathLike | None = None,
        drop_last: bool = False,
    ) -> History:
        """Train for ``epochs`` passes over (X, y).

        Args:
            X: (N, n_features) features; y: (N,) labels 0..k-1 (k = the model's outputs) or
                (N,) / (N, n_outputs) regression targets.
            descent: ``"minibatch"`` (an update every ``batch_size`` rows), ``"stochastic"``
                (an update per row) or ``"batch"`` (one update per epoch on all rows).
            validation_data: (X_val, y_val), evaluated after every epoch (eval mode, no graph).
            log_every: print a line every this many epochs, and after the last one.
            shuffle: visit rows in a fresh random order every epoch ("batch" needs none).
            seed: seeds the order of the rows; None draws from deltaprop's generator, so
                ``dp.seed(n)`` before ``fit`` makes the run repeatable bit for bit.
            verbose: print the lines (and a progress bar on a terminal for long epochs).
            validation_split: hold out this fraction of (X, y), in (0, 1), as validation data
                instead of ``validation_data`` (not both). The split is taken before any
                shuffling and is the same on every call: stratified by class for
                classification, from a fixed seed that neither ``seed`` nor ``dp.seed``
                changes (see :func:`deltaprop.train.validation.holdout_indices`).
            drop_last: skip the last minibatch of an epoch when it is smaller than
                ``batch_size`` (needed with BatchNorm1d when it would hold a single row).
            checkpoint: write the full training state to this file at the end of every epoch
                (model parameters and buffers, optimizer, scheduler and callback states, the
                random generators, the epoch and step counts, the History so far), replacing
                it atomically, so a crash leaves the previous one whole. Format:
                :mod:`deltaprop.train.checkpoint`.
            resume_from: a file written with ``checkpoint``: restore all of that and train on
                up to ``epochs`` in total (a run resumed after epoch 3 with ``epochs=10``
                trains epochs 4..10; the History holds all 10), bit for bit as the run
                would have gone on. Build the Trainer as the first run did and pass the same
                data and arguments. When the file says training had already stopped (a
                callback ended it) or done ``epochs`` epochs, nothing more is trained; the
                ``on_train_begin``/``on_train_end`` hooks still run (EarlyStopping restores
                its best weights). When ``resume_from`` is the same path as ``checkpoint``
                and no file is there yet, training starts afresh: run the same call again
                until it returns.

        Returns:
            a History: ``history.history["loss"]``, ``["accuracy"]``, ``["val_loss"]``, ...,
            ``["lr"]`` (group 0's learning rate at the start of the epoch, i.e. that of its
            first step), ``["grad_norm"]`` (with ``clip_norm``: the mean pre-clip gradient
            norm over the epoch's steps), ``["epoch_seconds"]``, one value per epoch.
            Training metrics come from the same forward passes as the updates (the model
            changes during the epoch, as in Keras); ``loss`` includes the l1/l2 penalty.

        Raises:
            ConfigError, DataError, ShapeError: bad arguments (a ``checkpoint`` in a folder
                that does not exist); raised before the model, the optimizer or any random
                generator is touched.
            ModelFileError: ``resume_from`` is missing, truncated, corrupt, not a checkpoint,
                or does not match this Trainer or call (the message names what differs);
                raised before anything is touched.
            TrainingError: the loss became NaN/Inf; the weights from before that step are kept
                (with ``stop_on_nan``, e.g. via TerminateOnNaN, training stops instead).
        """
        if self.optimizer is None:
            raise ConfigError("optimizer: fit needs an Optimizer; this Trainer was made without")
        epochs = inputs.check_int(epochs, "epochs")
        descent = inputs.check_descent(descent)
        batch_size = inputs.check_batch_size(batch_size)
        log_every = inputs.check_int(log_every, "log_every")
        shuffle = inputs.check_bool(shuffle, "shuffle")
        verbose = inputs.check_bool(verbose, "verbose")
        if seed is not None:
            seed = inputs.check_int(seed, "seed", minimum=0)
        if validation_split is not None:
            if validation_data is not None:
                raise ConfigError(
                    "validation_split: give validation_split or validation_data, not both"
                )
            validation_split = inputs.check_fraction(validation_split, "validation_split")
        X, y = self._prepare(X, y, "X", "y")
        val = None
        if validation_data is not None:
            Xv, yv = inputs.unpack_validation(validation_data)
            val = self._prepare(Xv, yv, "validation_data[0]", "validation_data[1]")
        elif validation_split is not None:
            X, y, val = validation.split_off(X, y, validation_split, self.task)
        drop_last = inputs.check_bool(drop_last, "drop_last")
        n = X.shape[0]
        bs = resolve_batch_size(descent, batch_size, n)
        inputs.check_batchnorm_batches(self.model, n, bs, descent, drop_last)
        writer = resume = None
        if checkpoint is not None or resume_from is not None:
            writer, resume = loop.checkpointing(
                self, checkpoint, resume_from, descent, bs, n, val, shuffle, seed
            )
        # -- nothing above changed any state; from here on we train (train/loop.py) --
        return loop.run(
            self, X, y, epochs, descent, bs, val, log_every, shuffle, seed, verbose, writer,
            resume, drop_last,
        )  # fmt: skip

    # --- helpers -----------------------------------------------------------------------------
    def _prepare(self, X, y, x_name, y_name):
        X, n_out = inputs.prepare_X(self.model, X, x_name)
        dtype, xp = inputs.model_dtype_and_xp(self.model)
        y = inputs.prepare_y(y, y_name, self._kind, n_out, X.shape[0], x_name, dtype, xp)
        return X, y

    def __repr__(self) -> str:
        return (
            f"Trainer(model={type(self.model).__name__}, loss={type(self.loss).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, task={self.task!r}, "
            f"metrics={self.metrics})"
        )
