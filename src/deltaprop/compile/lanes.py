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

import copy
from typing import Any

import numpy as np

from .. import backend, report
from ..autograd.tensor import Tensor
from ..nn.normalization import BatchNorm1d
from ..ops import conv, pool, reduce
from ..ops.dropout import Dropout
from .dense import DropoutKernel
from .lane_norm import Exchange, LaneBatchNormKernel
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

        for exchange in self.exchanges:
            if exchange.barrier.broken:  # a lane failed in the last step
                exchange.reset()
        for kernel in self.norms:
            kernel.turn = 0  # every lane starts the step on the exchanges' first slot
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


def record_step(
    step: Any, tape: Tape, key, xb, yb, out: Tensor, loss: Tensor, norm, before: tuple | None
) -> None:
    """A batch large enough to split: its :class:`LaneSet` in ``step._lanesets[key]``, or None
    there after one warning (per reason) saying why this step runs as one lane. ``before``:
    :func:`snapshot` of the model from before this step's eager forward."""
    if before is None or plan(xb.shape[0], step.lanes) is None:
        return
    split = record(step, tape, xb, yb, out, loss, step.lanes, norm, before)
    if isinstance(split, str):
        if split not in step._lane_refusals:
            step._lane_refusals.add(split)
            report.warn(
                f"compile: lanes={step.lanes}: {split}; the step runs as one lane", stacklevel=6
            )
        split = None
    step._lanesets[key] = split


def record(
    step: Any, tape: Tape, xb, yb, out: Tensor, loss: Tensor, lanes: int, norm: dict,
    before: tuple,
) -> LaneSet | str:  # fmt: skip
    """Record the lanes of a step whose eager full-batch forward (``tape``, ``out``, ``loss``)
    and backward just ran, from ``before`` (:func:`snapshot`): a :class:`LaneSet`, or why the
    step cannot be split.

    Each lane's recording comes from an eager forward on its rows; then the state is put back
    as it was before the step and the lanes replay the whole batch (dropout drawing eager's
    masks), and their loss and gradients must be eager's to ``sqrt(eps)``: the lanes' results
    are then this step's (``.first``, the parameters' ``.grad``). Otherwise the eager step's
    gradients and state are put back. ``norm``: the model's batch-norm layers by the id of
    their running mean (as for :class:`Program`)."""
    why = _refusal(tape, xb.shape[0], lanes)
    if why is not None:
        return why
    reduction = _reduction(tape.nodes[-1].fn)
    named = step._named_params()
    params = [p for _, p in named]
    eager = [p.grad for p in params]
    after = snapshot(step.model)
    bounds = plan(xb.shape[0], lanes)
    n = xb.shape[0]
    programs, shares = [], []
    done = False
    try:
        for lo, hi in bounds:
            share = (hi - lo) / n if reduction == "mean" else 1.0
            xs, ys = xb[lo:hi], yb[lo:hi]  # one view each: the program finds them by identity
            x, y = Tensor._wrap(xs), Tensor._wrap(ys)
            lane_tape = Tape()
            with tracing(lane_tape):
                lane_out = step.model(x)
                lane_loss = step._loss_call(lane_out, ys)
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
        restore(before)
        split = LaneSet(programs, bounds, shares, params, np.empty_like(out.data))
        split.first = split.forward(xb, yb)[0]
        split.backward()
        lanes_grads = [None if p.grad is None else p.grad.data for p in params]
        why = _differs(float(loss.data), split.first, [None if g is None else g.data
                                                        for g in eager], lanes_grads)  # fmt: skip
        if why is not None:
            return why
        done = True
        return split
    finally:
        if not done:  # the eager step stands: its gradients and what its forward changed
            restore(after)
            for p, g in zip(params, eager):
                p.grad = g


def _refusal(tape: Tape, rows: int, lanes: int) -> str | None:
    """Why a step must not be split, seen from its recorded ops alone (None: it may)."""
    for node in tape.nodes:
        fn = node.fn
        if type(fn) is Dropout and fn.generator is not None:
            return "dropout with a generator of its own (lanes draw from deltaprop's)"
    longest = max(hi - lo for lo, hi in plan(rows, lanes))
    sizes = [node.output.data.size for node in tape.nodes if isinstance(node.fn, _LONG_OPS)]
    if not sizes:
        return (
            "a step without convolution or pooling (its NumPy calls are too short for "
            "threads: two lanes measured 2x slower than one on a 784-256-128-10 MLP)"
        )
    largest = max(sizes) * longest // rows
    if largest < LONG_ELEMENTS:
        return (
            f"a lane's largest convolution or pooling output would hold {largest} numbers, "
            f"fewer than the {LONG_ELEMENTS} that pay for the threads' hand-offs (a larger "
            "batch or images would)"
        )
    if _reduction(tape.nodes[-1].fn) is None:
        return f"a loss made by {tape.nodes[-1].op} (not a mean or a sum over the rows)"
    return None


def snapshot(model: Any) -> tuple:
    """What a training forward changes besides its outputs, to put back with :func:`restore`:
    deltaprop's generator (dropout's draws) and every batch-norm layer's running statistics
    and batch count."""
    gen = backend.rng()
    buffers = [
        (t, t.data.copy())
        for m in model.modules()
        if isinstance(m, BatchNorm1d)
        for t in (m.running_mean, m.running_var, m.num_batches_tracked)
        if t is not None
    ]
    return gen, copy.deepcopy(gen.bit_generator.state), buffers


def restore(snap: tuple) -> None:
    """Put back a :func:`snapshot` (in place: the recordings hold the arrays)."""
    gen, state, buffers = snap
    gen.bit_generator.state = copy.deepcopy(state)
    for t, saved in buffers:
        if t.data.shape == saved.shape:
            np.copyto(t.data, saved)
        else:
            t.data = saved.copy()


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
    """Why the lanes' loss or gradients are not eager's (None: they agree to sqrt(eps) of the
    loss, and of the largest gradient: a gradient that is zero but for rounding, such as the
    bias before a batch norm, is compared at the scale of the others)."""
    dtype = next((g.dtype for g in eager if g is not None), np.dtype(np.float64))
    tol = float(np.sqrt(np.finfo(dtype).eps)) if dtype.kind == "f" else 1e-6
    if abs(loss - lanes_loss) > tol * max(1.0, abs(loss)):
        return f"the lanes' loss {lanes_loss:.6g} is not the batch's {loss:.6g} (rows interact)"
    if any((g is None) != (h is None) for g, h in zip(eager, lanes)):
        return "the lanes' gradients reach other parameters than the batch's"
    pairs = [(g, h) for g, h in zip(eager, lanes) if g is not None and g.size]
    scale = max((float(np.max(np.abs(g))) for g, _ in pairs), default=0.0)
    if any(float(np.max(np.abs(g - h))) > tol * max(scale, 1e-30) for g, h in pairs):
        return "the lanes' gradients are not the batch's (rows interact in the model or loss)"
    return None
