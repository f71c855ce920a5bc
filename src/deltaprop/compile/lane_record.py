"""Recording lanes (:mod:`deltaprop.compile.lanes`): which steps may split, and the check that
the lanes reproduce the eager step they were recorded with.

:func:`record_step` runs after a step's eager forward and backward: each lane's recording
comes from an eager forward on its rows, then the state is put back as it was before the step
(:func:`snapshot`, :func:`restore`: deltaprop's generator and the batch-norm layers' running
statistics) and the lanes replay the whole batch; their loss and gradients must be eager's to
``sqrt(eps)``, and their result is then the step's. A step that may not split (:func:`_refusal`)
or fails the check runs as one lane, after one warning per reason.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .. import backend, report
from ..autograd.tensor import Tensor
from ..nn.normalization import BatchNorm1d
from ..ops import reduce
from ..ops.dropout import Dropout
from . import lanes as _lanes
from .program import Program
from .rules import Unrecordable
from .trace import Tape, tracing


def record_step(
    step: Any, tape: Tape, key, xb, yb, out: Tensor, loss: Tensor, norm, before: tuple
) -> None:
    """A batch large enough to split (:func:`deltaprop.compile.lanes.plan`): its
    :class:`LaneSet` in ``step._lanesets[key]``, or None there after one warning (per reason)
    saying why this step runs as one lane. ``before``: :func:`snapshot` of the model from
    before this step's eager forward."""
    split = record(step, tape, xb, yb, out, loss, norm, before)
    if isinstance(split, str):
        if split not in step._lane_refusals:
            step._lane_refusals.add(split)
            report.warn(
                f"compile: lanes={step.lanes}: {split}; the step runs as one lane", stacklevel=6
            )
        split = None
    step._lanesets[key] = split


def record(
    step: Any, tape: Tape, xb, yb, out: Tensor, loss: Tensor, norm: dict, before: tuple
) -> _lanes.LaneSet | str:
    """Record the lanes of a step whose eager full-batch forward (``tape``, ``out``, ``loss``)
    and backward just ran, from ``before`` (:func:`snapshot`): a :class:`LaneSet`, or why the
    step cannot be split.

    Each lane's recording comes from an eager forward on its rows; then the state is put back
    as it was before the step and the lanes replay the whole batch (dropout drawing eager's
    masks), and their loss and gradients must be eager's to ``sqrt(eps)``: the lanes' results
    are then this step's (``.first``, the parameters' ``.grad``). Otherwise the eager step's
    gradients and state are put back. ``norm``: the model's batch-norm layers by the id of
    their running mean (as for :class:`Program`)."""
    bounds = _lanes.plan(xb.shape[0], step.lanes)
    why = _refusal(tape, bounds)
    if why is not None:
        return why
    reduction = _reduction(tape.nodes[-1].fn)
    if reduction is None:
        return f"a loss made by {tape.nodes[-1].op} (not a mean or a sum over the rows)"
    named = step._named_params()
    params = [p for _, p in named]
    eager = [p.grad for p in params]
    after = snapshot(step.model)
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
        split = _lanes.LaneSet(programs, bounds, shares, params, np.empty_like(out.data))
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


def _refusal(tape: Tape, bounds: list[tuple[int, int]]) -> str | None:
    """Why a step must not be split into ``bounds``, seen from its ops (None: it may)."""
    for node in tape.nodes:
        fn = node.fn
        if type(fn) is Dropout and fn.generator is not None:
            return "dropout with a generator of its own (lanes draw from deltaprop's)"
    rows = bounds[-1][1]
    longest = max(hi - lo for lo, hi in bounds)
    sizes = [node.output.data.size for node in tape.nodes if isinstance(node.fn, _lanes._LONG_OPS)]
    if not sizes:
        return (
            "a step without convolution or pooling (its NumPy calls are too short for "
            "threads: two lanes measured 2x slower than one on a 784-256-128-10 MLP)"
        )
    largest = max(sizes) * longest // rows
    if largest < _lanes.LONG_ELEMENTS:
        return (
            f"a lane's largest convolution or pooling output would hold {largest} numbers, "
            f"fewer than the {_lanes.LONG_ELEMENTS} that pay for the threads' hand-offs (a larger "
            "batch or images would)"
        )
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
    tol = float(np.sqrt(np.finfo(dtype).eps))
    if abs(loss - lanes_loss) > tol * max(1.0, abs(loss)):
        return f"the lanes' loss {lanes_loss:.6g} is not the batch's {loss:.6g} (rows interact)"
    if any((g is None) != (h is None) for g, h in zip(eager, lanes)):
        return "the lanes' gradients reach other parameters than the batch's"
    pairs = [(g, h) for g, h in zip(eager, lanes) if g is not None and g.size]
    scale = max((float(np.max(np.abs(g))) for g, _ in pairs), default=0.0)
    if any(float(np.max(np.abs(g - h))) > tol * max(scale, 1e-30) for g, h in pairs):
        return "the lanes' gradients are not the batch's (rows interact in the model or loss)"
    return None
