"""Lanes: a compiled step split over threads, one contiguous shard of the batch per thread.

NumPy runs its elementwise passes (ReLU, pooling, im2col, the loss) on one core, and on the
skinny products of a small CNN a second BLAS thread buys little: on two cores a deltaprop CNN
step used one and a half. With ``lanes=2`` the batch's rows are split in two; each lane replays
its own recording (its own buffers, recorded on its shard) in its own thread, BLAS at one thread
each (NumPy releases the GIL inside its calls), and the lanes' gradients are summed::

    rows [0, n0)  -> lane 0 (this thread):   loss_0, grads_0 (seeded with share_0)
    rows [n0, n)  -> lane 1 (a worker):      loss_1, grads_1 (seeded with share_1)
    loss = share_0 loss_0 + share_1 loss_1;  grad = grads_0 + grads_1   (summed in lane order)

``share_i`` is the lane's part of the loss's normalizer: ``rows_i / n`` for a mean over rows,
1 for a sum. Dropout draws once for the whole batch, before the lanes start, each lane
reading its rows of that draw: eager's draw, so eager's masks. Batch norm in training
normalizes with the whole batch's statistics, which the lanes add up from their own through a
barrier (:mod:`deltaprop.compile.lane_norm`). Rows must not interact otherwise, which is why a
recording is split only when (a) no dropout draws from a generator of its own, and (b) the
lanes reproduce the eager step they were recorded with: from the state before that step
(generator, running statistics) they replay its batch, and their loss and gradients must be
eager's to ``sqrt(eps)`` (of the loss, and of the largest gradient), which catches any other
row-mixing op (a user's loss over the batch, ``x.sum(0)``) and a loss whose normalizer is not
per row (class weights). Their result is then that step's; a step that fails either runs as
one lane, after one warning naming why.

Where lanes pay: on steps whose NumPy calls are long (convolutions, pooling and their im2col
copies: a small CNN's step on two cores 1.6x faster than one lane with two BLAS threads). On
dense layers each call is short, and the threads spend the step handing the GIL to each other
between calls (a 784-256-128-10 MLP at batch 128: 2x slower than one lane, whose GEMMs use
both cores through BLAS), so a step without a convolution or pooling runs as one lane too,
as does one whose largest such output is small (under :data:`LONG_ELEMENTS` numbers a lane:
8x8 digits at batch 64 ran 2x slower in two lanes).

Results: the gradient is summed in another order than one GEMM over the batch adds it, so a
run with lanes is reproducible (``dp.seed``) but not bit-identical to one without (within
float rounding; tested to 1e-5 relative). The split is fixed by the batch's size, never by
timing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..ops import conv, pool
from .dropout import DropoutKernel
from .lane_norm import Exchange, LaneBatchNormKernel
from .threads import run

#: A lane gets at least this many rows; smaller batches run as one lane (the two hand-offs
#: between threads, ~30 µs a step, would cost more than a split of so little work gains).
MIN_ROWS = 16

#: Ops long enough per call that the threads' taking turns at the GIL between NumPy calls
#: costs little next to them; a step with none of them runs as one lane (module doc).
_LONG_OPS = (conv.Conv2d, pool.MaxPool2d, pool.AvgPool2d)

#: The elements a lane's largest convolution or pooling output must hold for the split to pay
#: (measured on two cores, conv(1->16)-pool-conv(16->32)-pool-linear, two lanes against one:
#: 1.95x and 1.18x slower at 32768 and 131072 numbers, 0.91x and 0.75x the time at 200704
#: and 524288).
LONG_ELEMENTS = 160_000


class LaneSet:
    """The recordings of one batch key split over lanes, and how to run them.

    Args:
        programs: one :class:`Program` per lane (recorded with ``lane_seed``).
        bounds: ``(lo, hi)`` rows of each lane.
        shares: each lane's part of the loss's normalizer.
        params: the step's parameters, in the programs' order.
        out: the model's output for the whole batch (a buffer the lanes copy into).
    """

    def __init__(self, programs, bounds, shares, params, out) -> None:
        self.programs, self.bounds, self.shares = programs, bounds, shares
        self.params = params
        self.out = out
        self.losses = [0.0] * len(programs)
        # each parameter's summed gradient: a buffer of its own, wrapped once
        self.grads = [Tensor._wrap(np.empty_like(p.data)) for p in params]
        self.draws = self._share_draws()
        self.exchanges = self._share_norms()
        self.first = 0.0  # the loss of the step that recorded (the lanes replayed its batch)

    def _share_norms(self) -> list:
        """Per batch norm of the step: one :class:`~deltaprop.compile.lane_norm.Exchange`
        through which its kernels in every lane add up their statistics."""
        per_lane = [
            [k for k in prog.kernels if isinstance(k, LaneBatchNormKernel)]
            for prog in self.programs
        ]
        self.norms = [k for kernels in per_lane for k in kernels]
        exchanges = []
        for d in range(len(per_lane[0])):
            exchange = Exchange(len(self.programs))
            for lane, kernels in enumerate(per_lane):
                k = kernels[d]
                k.exchange, k.lane, k.rows = exchange, lane, self.bounds[-1][1]
            exchanges.append(exchange)
        return exchanges

    def _share_draws(self) -> list[tuple[np.ndarray, Any, Any]]:
        """Per dropout of the step: one (N, ...) buffer of uniform draws, of which each lane's
        kernel reads its rows (its ``r``, and its mask where that is ``r``): drawn once for
        the whole batch before the lanes start, it is eager's draw, so the masks are too."""
        per_lane = [
            [(j, k) for j, k in enumerate(prog.kernels) if isinstance(k, DropoutKernel)]
            for prog in self.programs
        ]
        draws = []
        for d, (_, first) in enumerate(per_lane[0]):
            whole = np.empty((self.bounds[-1][1], *first.r.shape[1:]), dtype=first.r.dtype)
            for prog, kernels, (lo, hi) in zip(self.programs, per_lane, self.bounds):
                j, k = kernels[d]
                view = whole[lo:hi]
                if k.mask is k.r:
                    k.mask = prog.source.ns[f"k{j}_mask"] = view
                k.r = prog.source.ns[f"k{j}_r"] = view
            draws.append((whole, first.generator, first.draw_dtype))
        return draws

    def valid(self) -> bool:
        """Whether every lane's recording still holds the parameters' arrays."""
        return all(p.valid() for p in self.programs)

    def forward(self, xb, yb) -> tuple[float, Any]:
        """Every lane's forward, loss *and backward* on its rows, in one hand-off to the
        threads: (the batch's loss, the output (N, ...)). The backward writes only the lanes'
        own buffers, so a loss the caller refuses (NaN) changes nothing; :meth:`backward`
        then sums the gradients into the parameters' ``.grad``."""

        def lane(i: int) -> None:
            lo, hi = self.bounds[i]
            prog = self.programs[i]
            try:
                self.losses[i] = prog.forward(xb[lo:hi], yb[lo:hi])
                self.out[lo:hi] = prog.output()
                prog.backward()
            except BaseException:
                for exchange in self.exchanges:  # the other lanes must not wait for this one
                    exchange.barrier.abort()
                raise

        if any(exchange.barrier.broken for exchange in self.exchanges):
            # a lane failed mid-step: the lanes' counts of exchanges differ, so each starts
            # again on the first slot (a whole step makes an even count of them)
            for exchange in self.exchanges:
                exchange.reset()
            for kernel in self.norms:
                kernel.turn = 0
        for whole, generator, dtype in self.draws:  # in the ops' order, as eager draws
            (generator if generator is not None else backend.rng()).random(dtype=dtype, out=whole)
        run(len(self.programs), lane)
        total = 0.0
        for share, value in zip(self.shares, self.losses):
            total += share * value
        return total, self.out

    def backward(self) -> None:
        """Each parameter's ``.grad``: the sum of the lanes' gradients, in lane order."""
        lanes = [prog.lane_grads for prog in self.programs]
        for n, p in enumerate(self.params):
            parts = [g[n] for g in lanes if g[n] is not None]
            if not parts:
                p.grad = None
                continue
            total = self.grads[n]
            if len(parts) == 1:
                np.copyto(total.data, parts[0], casting="same_kind")
            else:
                np.add(parts[0], parts[1], out=total.data, casting="same_kind")
                for part in parts[2:]:
                    np.add(total.data, part, out=total.data, casting="same_kind")
            p.grad = total


def plan(rows: int, lanes: int) -> list[tuple[int, int]] | None:
    """The lanes' row bounds for a batch of ``rows``; None when it is too small to split."""
    if lanes < 2 or rows < 2 * MIN_ROWS:
        return None
    lanes = min(lanes, rows // MIN_ROWS)
    cuts = [rows * i // lanes for i in range(lanes + 1)]  # sizes differ by a row at most
    return list(zip(cuts, cuts[1:]))
