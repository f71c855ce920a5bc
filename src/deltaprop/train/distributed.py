"""The Trainer's data-parallel hook: ``Trainer(..., distributed=True)`` on MPI.

Every rank runs the same ``fit`` on the same data: the same shuffled order of rows (one
generator, rank 0's, broadcast at the start), hence the same global batches. Each rank trains
on its own contiguous shard of every batch (:func:`deltaprop.parallel.shard_bounds`); its
gradients, scaled by its share of the batch, go into one buffer (:class:`deltaprop.parallel.
GradBucket`), summed over the ranks together with the loss and the metric's batch sum: by one
``Allreduce``, or through a shared-memory window when every rank is on one host
(:mod:`deltaprop.parallel.gradsum`, ``World(reduce=...)``). Every rank then takes the same
optimizer step from the same summed
gradient, so the weights stay identical without being sent again, and the result is that of
one process on the whole batch, up to the order of floating-point additions.

Why the share and not ``1 / size``: shards differ by a row when the batch does not divide
evenly, and a class-weighted cross-entropy divides by the batch's sum of class weights, not by
its rows; scaling each rank's mean by its part of the batch's normalizer gives the batch's
mean exactly.

Rank 0 alone prints the epoch lines, writes the training checkpoint and runs the callbacks
that write files or draw progress bars; the other ranks run inside :func:`deltaprop.report.
quiet`. BatchNorm normalizes over each rank's shard (a smaller batch): results then depend on
the number of ranks, and rank 0 warns.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .. import backend, report
from ..autograd.engine import backward as _backward
from ..autograd.tensor import Tensor
from ..compile.step import CompiledStep
from ..errors import ConfigError
from ..nn.losses import CrossEntropyLoss
from ..nn.normalization import BatchNorm1d
from ..optim.clip import clip_grad_norm, clip_grad_value
from ..parallel import GradBucket, World, check_global_batch, shard_bounds, world
from ..parallel.bucket import layout
from ..parallel.gradsum import gradient_sum
from . import penalty
from .callbacks import CSVLogger, MLflowLogger, ModelCheckpoint, ProgressBar, TensorBoard
from .loop import NonFiniteLoss

_WHAT = {"mpi": "the gradient allreduce", "shm": "the gradient sum (shared memory)"}
#: Callbacks that only rank 0 runs: they write files or draw on the terminal.
ROOT_ONLY = (ModelCheckpoint, CSVLogger, ProgressBar, TensorBoard, MLflowLogger)
_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_batch_begin", "on_batch_end")  # fmt: skip


#: The variables that set a BLAS library's threads: where the user set one, it stands.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads(cores: int, ranks_here: int, env: Mapping[str, str]) -> int | None:
    """BLAS threads per rank for a fit: the host's ``cores`` shared out among its
    ``ranks_here`` ranks (at least one each); None (leave the library as it is) with one rank
    on the host, or where ``env`` sets one of :data:`THREAD_VARS`.

    Without it every rank's BLAS starts a thread per core: 2 ranks on 2 cores ran 4 threads
    that spin while they wait, and a 2-rank fit of a 512-512 MLP took 18.3 s against 2.0 s
    with one thread each (``mpiexec -n 2 deltaprop train ... --hidden 512,512 --distributed``,
    40 epochs of 9 steps; torchrun sets ``OMP_NUM_THREADS=1`` for the same reason)."""
    if ranks_here <= 1 or any(key in env for key in THREAD_VARS):
        return None
    return max(1, cores // ranks_here)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def resolve(distributed: Any) -> World | None:
    """``distributed``: False/None (one process), True (the MPI world; ConfigError naming
    the extra without mpi4py) or a :class:`~deltaprop.parallel.World`."""
    if distributed is None or distributed is False:
        return None
    if distributed is True:
        return world()
    if isinstance(distributed, World):
        return distributed
    raise ConfigError(
        f"distributed: expected True, False or a deltaprop.parallel.World, got "
        f"{type(distributed).__name__}"
    )


class Distributed:
    """What ``fit`` does differently on several ranks (one per Trainer)."""

    def __init__(self, trainer: Any, world: World) -> None:
        self.trainer = trainer
        self.world = world
        self.bucket: GradBucket | None = None
        self.sum: Any = None  # the gradient sum of this fit (parallel.gradsum)
        self.compiled: CompiledStep | None = None  # with compile=True: made per fit

    def check_batch(self, batch_size: int, n_rows: int) -> None:
        """Every global batch gives each rank a row (checked before anything changes)."""
        check_global_batch(min(batch_size, n_rows), self.world.size)

    # --- the start of fit --------------------------------------------------------------------
    def begin(self) -> None:
        """The gradient buffer and its sum; rank 0's weights, buffers and generator on every
        rank."""
        trainer, w = self.trainer, self.world
        # first: the only step that can refuse (reduce="shm" on several hosts), before any
        # weight changes
        params = [p for p in trainer._grad_params if p.requires_grad]
        dtype, n = layout(params, 2)  # + the loss and the metric's sum
        self.sum = gradient_sum(w, n, dtype)
        self.bucket = GradBucket(params, 2, buffer=self.sum.buffer)
        # compile: this fit's own compiled step, whose replays write each gradient into its
        # view of this rank's slot of the sum, already scaled by the rank's share: no pack
        if trainer.compile:
            slots = {id(p): v for p, v in zip(self.bucket.params, self.bucket.views)}
            # (the loss Module itself: the Trainer's fast call would bypass the recording)
            self.compiled = CompiledStep(trainer.model, trainer.loss, trainer.optimizer,
                                         fuse_update=False, grads_into=slots)  # fmt: skip
        state = w.broadcast_object(trainer.model.state_dict(), "the broadcast of the weights")
        if not w.is_root:
            trainer.model.load_state_dict(state)
        # the generator shuffles the rows (seed=None) and seeds augmentation: one order for all
        gen = backend.rng()
        gen.bit_generator.state = w.broadcast_object(gen.bit_generator.state, "the generator")
        if w.is_root and any(isinstance(m, BatchNorm1d) for m in trainer.model.modules()):
            report.warn(
                f"distributed: BatchNorm1d normalizes over each rank's shard of the batch "
                f"(1/{w.size} of it), so results depend on the number of ranks"
            )

    def run(self, loop: Any, step_function: Callable, verbose: bool) -> Any:
        """``loop`` (the fit's EpochLoop) on this rank: rank 0's weights everywhere
        (:meth:`begin`), the sharded :meth:`step` wrapped as the Trainer wraps its own
        (``step_function``), the host's cores shared out among its ranks' BLAS threads
        (:func:`blas_threads`); rank 0 alone prints and writes the checkpoint. The History."""
        self.begin()
        loop.step = step_function(self.step)
        loop.verbose = verbose and self.world.is_root
        if not self.world.is_root:
            loop.writer = None
        limit = blas_threads(_cores(), self.world.ranks_on_host(), os.environ)
        with self.running(), threadpool_limits(limits=limit, user_api="blas"):
            return loop.run()

    @contextmanager
    def running(self) -> Iterator[None]:
        """The training loop's block: :meth:`outputs`, then :meth:`end` (on success or not)."""
        ok = False
        try:
            with self.outputs():
                yield
            ok = True
        finally:
            self.end(ok)

    def end(self, ok: bool) -> None:
        """A shared window's gradients become private copies (they were views of the
        window, which is freed now or reused by the next fit); the window is freed when every
        rank finished ``fit`` (``ok``: a collective), else left to the process's end, as a
        rank may be gone."""
        if self.sum is None:
            return
        if self.sum.kind == "shm" and self.bucket.on_host:  # a device's grads are copies
            for p in self.bucket.params:
                if p.grad is not None and np.shares_memory(p.grad.data, self.sum.result):
                    p.grad = Tensor._wrap(p.grad.data.copy())
        if ok:
            self.sum.close()
        self.sum = None

    @contextmanager
    def outputs(self) -> Iterator[None]:
        """Rank 0 as it is; on the others, no printing, no warnings, and the callbacks of
        :data:`ROOT_ONLY` silent (their hooks shadowed for the block)."""
        if self.world.is_root:
            yield
            return
        muted = [cb for cb in self.trainer.callbacks if isinstance(cb, ROOT_ONLY)]
        for cb in muted:
            for hook in _HOOKS:
                setattr(cb, hook, _silent)
        try:
            with report.quiet():
                yield
        finally:
            for cb in muted:
                for hook in _HOOKS:
                    cb.__dict__.pop(hook, None)

    # --- one step ----------------------------------------------------------------------------
    def step(self, xb, yb) -> tuple[float, Any]:
        """:meth:`TrainStep.train_step <deltaprop.train.step.TrainStep.train_step>` on this
        rank's shard of the global batch (xb, yb), with the gradients, the loss and the
        metric's batch sum summed over the ranks (in one call) before the update."""
        t, bucket = self.trainer, self.bucket
        n = xb.shape[0]
        lo, hi = shard_bounds(n, self.world.rank, self.world.size)
        for p in t._grad_params:
            p.grad = None
        stat: Any = None
        if hi > lo:
            xs, ys = xb[lo:hi], yb[lo:hi]
            compiled = self.compiled
            if compiled is None:
                out = t.model(Tensor._wrap(xs))
                loss = t._train_loss(out, ys)
                value, out = float(loss.data), out.data
            else:
                value, out = compiled.forward(xs, ys)
            share = self._share(ys, yb, hi - lo, n)
            local = value * share
            if t._train_stat is not None:
                stat = t._train_stat(out, ys)
            if not math.isfinite(local):  # a NaN loss is seen by all ranks after the sum
                if compiled is not None:
                    compiled.abandon()
            elif compiled is None:
                _backward(loss)
            else:
                compiled.set_seed(share)
                compiled.backward()
            bucket.pack(share)
        else:  # the last batch of an epoch may leave a rank without rows
            local = 0.0
            bucket.zero()
        scalars = bucket.scalars
        scalars[0] = local
        scalars[1] = 0 if stat is None else stat
        summed = self.sum.sum(_WHAT[self.sum.kind])
        scalars = bucket.scalars_of(summed)
        value = float(scalars[0])
        if t._train_stat is not None:
            stat = float(scalars[1])
            stat = int(round(stat)) if self._integral_stat else stat
        if t._penalties:
            value += penalty.value(t._penalties)
        if not math.isfinite(value):
            raise NonFiniteLoss(value)
        # a shared sum is one array read by every rank: penalties and clipping, which change
        # the gradients in place, get a private copy (else each rank would change them again)
        private = self.sum.kind == "shm" and (
            bool(t._penalties) or t.clip_norm is not None or t.clip_value is not None
        )
        bucket.unpack(summed, copy=private)
        if t._penalties:
            penalty.add_gradients(t._penalties)  # on the weights every rank holds alike
        if t.clip_norm is not None:
            t._norm_sum += clip_grad_norm(t._clip_params, t.clip_norm)
            t._norm_steps += 1
        if t.clip_value is not None:
            clip_grad_value(t._clip_params, t.clip_value)
        t.optimizer.step()
        return value, stat

    @property
    def _integral_stat(self) -> bool:
        # counts (accuracy's correct rows) come back as ints, as on one process
        return self.trainer._kind != "regression"

    def _share(self, ys, yb, rows: int, n: int) -> float:
        """This shard's part of the batch's normalizer: rows / n for a mean over rows (1 for
        a sum), the shard's sum of class weights over the batch's for a weighted mean."""
        t = self.trainer
        if not t._loss_per_row:
            return 1.0
        weight = getattr(t.loss, "weight", None)
        if weight is None or not isinstance(t.loss, CrossEntropyLoss):
            return rows / n
        xp = backend.xp_of(yb)
        w = xp.asarray(weight, dtype=xp.float64)
        if yb.ndim == 1:  # labels: row i weighs w[y_i]
            return float(w[ys].sum()) / float(w[yb].sum())
        return float((ys @ w).sum()) / float((yb @ w).sum())  # probabilities (mixup)


def _silent(*args: Any, **kwargs: Any) -> None:
    pass
