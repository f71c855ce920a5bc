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
1 for a sum. This is exact only when rows do not interact, which is why a recording is split
only when (a) no op of the step mixes rows by design (batch norm in training, whose statistics
are over the whole batch; dropout, whose random draws must follow eager's stream), and (b) the
lanes reproduce the eager step they were recorded with: their summed loss and gradients are
compared with eager's full-batch ones on that first step (to ``sqrt(eps)`` of the gradient's
scale), which catches any other row-mixing op (a user's loss over the batch, ``x.sum(0)``) and
a loss whose normalizer is not per row (class weights). A step that fails either runs as one
lane, after one warning naming why.

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

from .. import report
from ..autograd.engine import backward as _backward
from ..autograd.tensor import Tensor
from ..ops import conv, norm_batch, pool, reduce
from ..ops.dropout import Dropout
from .program import Program
from .rules import Unrecordable
from .threads import run
from .trace import Tape, tracing

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

#: Ops that mix rows by design (see the module doc), by what the warning calls them.
_ROW_MIXING = {norm_batch.BatchNorm: "batch norm in training mode", Dropout: "dropout"}


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
            self.losses[i] = prog.forward(xb[lo:hi], yb[lo:hi])
            self.out[lo:hi] = prog.output()
            prog.backward()

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


def record_step(step: Any, tape: Tape, key, xb, yb, out: Tensor, loss: Tensor, norm) -> None:
    """A batch large enough to split: its :class:`LaneSet` in ``step._lanesets[key]``, or None
    there after one warning (per reason) saying why this step runs as one lane."""
    if plan(xb.shape[0], step.lanes) is None:
        return
    split = record(step, tape, xb, yb, out, loss, step.lanes, norm)
    if isinstance(split, str):
        if split not in step._lane_refusals:
            step._lane_refusals.add(split)
            report.warn(
                f"compile: lanes={step.lanes}: {split}; the step runs as one lane", stacklevel=6
            )
        split = None
    step._lanesets[key] = split


def record(
    step: Any, tape: Tape, xb, yb, out: Tensor, loss: Tensor, lanes: int, norm: dict
) -> LaneSet | str:
    """Record the lanes of a step whose eager full-batch forward (``tape``, ``out``, ``loss``)
    and backward just ran: a :class:`LaneSet`, or why the step cannot be split. ``norm``: the
    model's batch-norm layers by the id of their running mean (as for :class:`Program`). The
    parameters' gradients are eager's again when it returns."""
    for node in tape.nodes:
        why = _ROW_MIXING.get(type(node.fn))
        if why is not None and not (type(node.fn) is Dropout and node.fn.p == 0):
            return why
    bounds = plan(xb.shape[0], lanes)
    rows = max(hi - lo for lo, hi in bounds)
    sizes = [node.output.data.size for node in tape.nodes if isinstance(node.fn, _LONG_OPS)]
    if not sizes:
        return (
            "a step without convolution or pooling (its NumPy calls are too short for "
            "threads: two lanes measured 2x slower than one on a 784-256-128-10 MLP)"
        )
    largest = max(sizes) * rows // xb.shape[0]
    if largest < LONG_ELEMENTS:
        return (
            f"a lane's largest convolution or pooling output would hold {largest} numbers, "
            f"fewer than the {LONG_ELEMENTS} that pay for the threads' hand-offs (a larger "
            "batch or images would)"
        )
    reduction = _reduction(tape.nodes[-1].fn)
    if reduction is None:
        return f"a loss made by {tape.nodes[-1].op} (not a mean or a sum over the rows)"
    named = step._named_params()
    params = [p for _, p in named]
    eager = [p.grad for p in params]
    n = xb.shape[0]
    programs, shares, totals = [], [], [None] * len(params)
    value = 0.0
    try:
        for lo, hi in bounds:
            share = (hi - lo) / n if reduction == "mean" else 1.0
            xs, ys = xb[lo:hi], yb[lo:hi]  # one view each: the program finds them by identity
            x, y = Tensor._wrap(xs), Tensor._wrap(ys)
            lane_tape = Tape()
            with tracing(lane_tape):
                lane_out = step.model(x)
                lane_loss = step._loss_call(lane_out, ys)
            for p in params:
                p.grad = None
            _backward(lane_loss, np.full((), share, dtype=lane_loss.data.dtype))
            value += share * float(lane_loss.data)
            for k, p in enumerate(params):
                if p.grad is not None:
                    g = p.grad.data
                    totals[k] = g.copy() if totals[k] is None else totals[k] + g
            if lane_tape.problem is not None:
                return lane_tape.problem
            try:
                prog = Program(lane_tape, x, y, lane_out, lane_loss, named, norm, lane_seed=share)
            except Unrecordable as exc:
                return str(exc)
            for node in lane_tape.nodes:
                node.fn.parents = ()
            programs.append(prog)
            shares.append(share)
    finally:
        for p, g in zip(params, eager):
            p.grad = g
    eager_arrays = [None if g is None else g.data for g in eager]
    why = _differs(float(loss.data), value, eager_arrays, totals)
    if why is not None:
        return why
    return LaneSet(programs, bounds, shares, params, np.empty_like(out.data))


def _reduction(fn: Any) -> str | None:
    """ "mean" or "sum": how the loss op folds its rows; None when unknown."""
    red = getattr(fn, "reduction", None)
    if red in ("mean", "sum"):
        return red
    if isinstance(fn, reduce.Mean):
        return "mean"
    if isinstance(fn, reduce.Sum):
        return "sum"
    return None


def _differs(loss: float, lanes_loss: float, eager: list, lanes: list) -> str | None:
    """Why the lanes' loss or gradients are not eager's (None: they agree to sqrt(eps))."""
    dtype = next((g.dtype for g in eager if g is not None), np.dtype(np.float64))
    tol = float(np.sqrt(np.finfo(dtype).eps)) if dtype.kind == "f" else 1e-6
    if abs(loss - lanes_loss) > tol * max(1.0, abs(loss)):
        return f"the lanes' loss {lanes_loss:.6g} is not the batch's {loss:.6g} (rows interact)"
    for g, h in zip(eager, lanes):
        if (g is None) != (h is None):
            return "the lanes' gradients reach other parameters than the batch's"
        if g is None:
            continue
        scale = float(np.max(np.abs(g))) if g.size else 0.0
        if g.size and float(np.max(np.abs(g - h))) > tol * max(scale, 1e-30):
            return "the lanes' gradients are not the batch's (rows interact in the model or loss)"
    return None
