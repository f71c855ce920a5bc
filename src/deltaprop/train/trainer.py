"""Trainer: fit / evaluate / predict around one small ``train_step``.

``train_step`` (:mod:`deltaprop.train.step`) reads as the method does: forward, loss
(+ penalty), backward, clip, step; the constructor decides once how steps run (eager,
compiled, data-parallel, on a device: :mod:`deltaprop.train.execution`). ``fit`` checks its
arguments and prepares the data once, then fills an :class:`~deltaprop.train.loop.EpochLoop`
with the run's settings and the step (:mod:`deltaprop.train.fit_plan`), and runs it
(batches, metrics, validation, schedules, logging, checkpoints, callback hooks; the NaN policy
is :class:`~deltaprop.train.callbacks.nan_guard.NanGuard`); ``evaluate`` and ``predict`` come
from :mod:`deltaprop.train.inference`.

Speed: benchmarks hold ``fit`` to within a few tens of percent of a hand-written NumPy loop, even
at batch size 1. So all checking happens once, up front; the per-step path wraps the batch views
without conversion, calls the fused loss Function directly for the common losses, keeps running
sums in Python floats, and allocates no dicts unless callbacks are listening. Options that act
per step (penalties, clipping) cost one attribute test each when off; a per-step schedule is
wrapped around the step once, before the loop.
"""

from __future__ import annotations

import os
from typing import Any

from ..checks import check_optional, check_real, check_type
from ..errors import TrainingError
from ..nn.module import Module
from ..optim import Optimizer
from . import augmenting, execution, inputs, penalty
from .callbacks import CallbackList, History
from .fit_plan import plan_fit
from .inference import Inference, fast_loss_call, loss_kind
from .metrics import resolve_metrics
from .step import TrainStep

_DEFAULT_METRICS = {"classification": ("accuracy",), "regression": ("mae",)}


class Trainer(TrainStep, Inference):
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
        lr: learning rate when ``optimizer`` is a name; None takes the rate suggested for
            it (``optim.default_lr(name)``: 0.1 for ``"sgd"``, 1e-3 for ``"adam"``, ...).
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
        divergence_factor: ``fit`` stops with TrainingError (or, with ``stop_on_nan``, stops
            training) when an epoch's mean training loss exceeds this many times the loss
            the run started from (the larger of the model's loss when ``fit`` starts and
            the loss of zero outputs, measured on a few hundred rows; see
            :func:`~deltaprop.train.callbacks.nan_guard.start_loss`), after rolling back to
            the state from the start of that epoch, as for a NaN loss. 1e3 (three orders of
            magnitude) is far above the noise of a working run, even at batch size 1, and
            far below where a run that blew up sits (Adam at lr 1000 on digits: 1e12).
            None turns the check off.
        compile: train through a :class:`~deltaprop.compile.CompiledStep`: the first step
            of each batch shape runs eagerly while its kernels are recorded, later ones
            replay them (buffers allocated once, no graph): the same weights, faster steps.
            An op that cannot be recorded makes it train eagerly, after one warning.
        lanes: with ``compile``: split each batch of at least 32 rows over this many threads
            (:mod:`deltaprop.compile.lanes`) when the step has convolution or pooling: faster
            on two cores or more, weights within float rounding of one lane's.
        distributed: data-parallel training on MPI: True (run under ``mpiexec``; needs
            ``deltaprop[dist]``) or a :class:`deltaprop.parallel.World` (its timeout).
            Each global batch of ``fit`` is split over the ranks and the gradients summed;
            rank 0 alone prints and writes checkpoints (:mod:`deltaprop.train.distributed`).
        device: ``"cpu"`` or ``"cuda"`` (needs CuPy and a GPU), or a :func:`deltaprop.device`:
            the model is moved there now; ``fit``'s data is moved there once, outputs and
            metrics come back to the host. None leaves the model where it is.

    Attributes:
        stop_training: a callback sets it to end ``fit`` after the current epoch.
        stop_reason: why the last ``fit`` ended early, set by the callback (or NaN stop) that
            ended it; None when it ran all its epochs.
        stop_on_nan: when True, a NaN/Inf loss (or weights, buffers, optimizer state), or a
            diverged loss, ends ``fit`` cleanly instead of raising; the TrainingError it
            would have raised is kept in ``nan_error``. The TerminateOnNaN callback sets it
            while it is listed.
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
        divergence_factor: float | None = 1e3,
        compile: bool = False,
        lanes: int = 1,
        distributed: Any = False,
        device: Any = None,
    ) -> None:
        check_type(model, Module, "model", "a deltaprop Module")
        loss, task, reduction = inputs.check_loss(loss, task)
        optimizer = inputs.make_optimizer(optimizer, lr, model)
        resolved = resolve_metrics(_DEFAULT_METRICS[task] if metrics is None else metrics, task)
        scheduler_interval = inputs.check_scheduler(scheduler, scheduler_interval, optimizer)
        # clip_norm=inf measures the norm without clipping
        clip_norm = check_optional(check_real, clip_norm, "clip_norm", strict=True, allow_inf=True)
        clip_value = check_optional(check_real, clip_value, "clip_value", strict=True)
        l1 = check_real(l1, "l1")
        l2 = check_real(l2, "l2")
        divergence_factor = check_optional(
            check_real, divergence_factor, "divergence_factor", minimum=1.0, strict=True
        )

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
        self.divergence_factor = divergence_factor
        self.stop_training = False
        self.stop_reason: str | None = None
        self.stop_on_nan = False
        self.nan_error: TrainingError | None = None
        self.history: History | None = None
        self._penalties = penalty.collect(model, l1, l2)
        self._norm_sum = 0.0  # sum of the pre-clip norms of the epoch's steps so far
        self._norm_steps = 0
        self._kind = loss_kind(loss, task)
        self._loss_call = fast_loss_call(loss, self._kind)
        # Loss values are batch means (or sums): weight a mean by the batch's rows.
        self._loss_per_row = reduction == "mean"
        self._batch_stat = self._streaming[0].batch_sum if self._streaming else None
        # what train_step calls: these two, unless fit's augmentation mixes labels into
        # probabilities (augmenting.train_calls); evaluate always uses the two above
        self._train_loss, self._train_stat = self._loss_call, self._batch_stat
        self._grad_params = []
        self._refresh_grad_params()
        execution.set_up(self, compile, distributed, device, lanes)

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
        augment: Any = None,
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
            augment: augmentation of every training batch: an
                :class:`~deltaprop.data.augment.Augment`, an Augmentation, or names
                (``"noise,mixup"``). Fitted once on the training rows (after
                ``validation_split``), applied per batch with its own generator seeded from
                ``seed`` (or from deltaprop's, which ``dp.seed`` sets); never to validation
                data, nor in ``evaluate``/``predict``; kept by checkpoints. With ``mixup`` a
                cross-entropy trains on probabilities (accuracy: the most likely class).
            checkpoint: write the full training state to this file at the end of every epoch
                (model parameters and buffers, optimizer, scheduler and callback states, the
                random generators, the epoch and step counts, the History so far), replacing
                it atomically, so a crash leaves the previous one whole. Format:
                :mod:`deltaprop.train.state`.
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
            TrainingError: the loss became NaN/Inf (the weights from before that step are
                kept); weights, buffers or optimizer state became NaN/Inf, or the loss diverged
                (``divergence_factor``), during an epoch (the state from its start is put
                back). With ``stop_on_nan`` (e.g. via TerminateOnNaN) training stops
                instead, keeping the same state. Raised in any case when the model or the
                optimizer holds NaN/Inf before training starts. The model is never left
                holding NaN/Inf that training put there, and no checkpoint holds any.
        """
        loop, augment = plan_fit(
            self, X, y, epochs=epochs, descent=descent, batch_size=batch_size,
            validation_data=validation_data, log_every=log_every, shuffle=shuffle, seed=seed,
            verbose=verbose, validation_split=validation_split, drop_last=drop_last,
            augment=augment,
        )  # fmt: skip
        if checkpoint is not None or resume_from is not None:
            loop.open_checkpoints(checkpoint, resume_from)
        # -- nothing above changed any state; from here on we train (train/loop.py) --
        self._refresh_grad_params()
        self._norm_sum, self._norm_steps = 0.0, 0
        self._train_loss, self._train_stat = augmenting.train_calls(self, augment)
        if self._dist is None:
            return loop.run()
        return self._dist.run(loop, self._step_function, verbose)  # data-parallel

    # --- helpers -----------------------------------------------------------------------------
    def _prepare(self, X, y, x_name, y_name):
        """(X, y), checked and in the model's dtype/device."""
        return self._prepare_with_width(X, y, x_name, y_name)[:2]

    def _prepare_with_width(self, X, y, x_name, y_name):
        """(X, y, the model's output width), checked and in the model's dtype/device."""
        X, n_out = inputs.prepare_X(self.model, X, x_name)
        dtype, xp = inputs.model_dtype_and_xp(self.model)
        y = inputs.prepare_y(y, y_name, self._kind, n_out, X.shape[0], x_name, dtype, xp)
        return X, y, n_out

    def __repr__(self) -> str:
        return (
            f"Trainer(model={type(self.model).__name__}, loss={type(self.loss).__name__}, "
            f"optimizer={type(self.optimizer).__name__}, task={self.task!r}, "
            f"metrics={self.metrics})"
        )
