"""CompiledStep: a training step that records itself once and replays from then on.

The first call for a batch shape and dtype (and train/eval mode) runs the ordinary eager step
while :mod:`~deltaprop.compile.trace` writes down its ops, then builds a
:class:`~deltaprop.compile.program.Program` from them; later calls with the same key replay
it. A step whose forward cannot be recorded trains eagerly for good, after one warning naming
the op. Phases (``forward``, ``backward``, ``update``) are public so that the Trainer can
check the loss and clip gradients between them, as its eager ``train_step`` does.

What invalidates a recording: a parameter whose array was replaced (``load_state_dict``, a
rollback), a new batch shape or dtype (a new key: its own recording), a change of any
module's train/eval flag (also a key). The update is the optimizer's own ``step()`` (its
rules allocate nothing: :mod:`deltaprop.optim.scratch`), so schedules, edited groups and a
loaded state are followed with no re-recording, and the arithmetic is eager's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import report
from ..autograd.engine import backward as _backward
from ..autograd.tensor import Tensor
from ..checks import check_int, check_type
from ..errors import ConfigError
from ..nn.module import Module, tree_version
from ..optim import SGD, Optimizer
from . import describe as _describe
from . import lane_record as _record
from . import lanes as _lanes
from .batch import as_batch
from .fusion import plain
from .norm import norm_layers
from .program import Program
from .rules import Unrecordable
from .trace import Tape, tracing

#: ``_pending`` after a forward whose backward ran (lanes recorded): nothing left to do
_GRADIENTS_SET = ("gradients set",)


class CompiledStep:
    """``step(xb, yb) -> float``: zero_grad, forward, loss, backward and the optimizer step in
    one call, replayed from a recording after the first call (see the module doc).

    Args:
        model: the Module to train.
        loss_fn: ``loss_fn(output, target)`` -> a one-element loss Tensor (a loss Module or a
            function of Tensors).
        optimizer: an Optimizer over the model's parameters.
        fuse_update: let plain SGD write each linear layer's update straight into its weights
            with one GEMM (the weight's ``.grad`` is then None after the step).
        loss_call: ``(output Tensor, target array) -> loss Tensor``, instead of calling
            ``loss_fn`` on wrapped targets (the Trainer passes its own).
        fusion_allowed: asked before every step with the fused update: False keeps every
            weight gradient for that step (the Trainer says False while clipping, a penalty
            or a callback may read them).
        lanes: split each batch of at least ``2 * lanes.MIN_ROWS`` rows over this many
            threads, one recording per shard (:mod:`deltaprop.compile.lanes`); 1 (default):
            one thread, bit-identical to eager.
        grads_into: ``{id(parameter): array}``: replays write those gradients there, scaled
            by :meth:`set_seed`'s value (a data-parallel rank's slot of the sum; no fused
            update then, one lane).

    Attributes:
        fallback: why this step trains eagerly (None while it records and replays).
        recordings, replays: how many steps were recorded and how many replayed.
    """

    def __init__(
        self,
        model: Module,
        loss_fn: Callable,
        optimizer: Optimizer,
        fuse_update: bool = True,
        loss_call: Callable | None = None,
        fusion_allowed: Callable[[], bool] | None = None,
        lanes: int = 1,
        grads_into: dict | None = None,
    ) -> None:
        check_type(model, Module, "model", "a deltaprop Module")
        if not callable(loss_fn):
            raise ConfigError(f"loss_fn: expected a loss Module or function, got {loss_fn!r}")
        check_type(optimizer, Optimizer, "optimizer", "a deltaprop Optimizer")
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.lanes = check_int(lanes, "lanes", minimum=1)
        self._lanesets: dict[tuple, _lanes.LaneSet | None] = {}  # None: this key runs as one
        self._lane: _lanes.LaneSet | None = None  # the split being replayed
        self._lane_refusals: set[str] = set()  # warned once each
        self._before: tuple | None = None  # lanes.snapshot before a recording forward
        self._loss_call = loss_call or (lambda out, yb: loss_fn(out, Tensor._wrap(yb)))
        self._grads_into = grads_into
        self.fuse_update = bool(fuse_update) and type(optimizer) is SGD and not grads_into
        self._fusion_allowed = fusion_allowed
        self.fallback: str | None = None
        self.recordings = self.replays = 0
        self._programs: dict[tuple, Program] = {}
        self._pending: tuple | None = None  # an eager step between its phases
        self._current: Program | None = None
        # the model's modules and parameters, re-read only when some Module's attribute was
        # set (tree_version moved): walking the tree every step cost ~7 µs at batch size 1
        self._tree: tuple[int, list, list] = (-1, [], [])
        # (guard, recording) of the last replay: the guard says in one expression whether
        # the next batch may replay it too (compile/source.py)
        self._fast: tuple[Callable, Any] | None = None

    # --- the public step ------------------------------------------------------------------
    def __call__(self, xb: Any, yb: Any) -> float:
        """One training step on a batch: ``xb`` (N, ...) features, ``yb`` (N, ...) targets
        (NumPy arrays; floats are taken in the model's dtype). Returns the batch's loss."""
        fast = self._fast
        if fast is not None and fast[0](xb, yb):  # the last recording fits: nothing to check
            value = self._replay(fast[1], xb, yb)[0]
        else:
            xb, yb = self._check_batch(xb, yb)
            value = self.forward(xb, yb)[0]
        self.backward()
        self.update()
        return value

    def _check_batch(self, xb, yb):
        params = self._walk()[2]
        return as_batch(xb, yb, params[0].data.dtype if params else np.dtype(np.float32))

    # --- the phases -----------------------------------------------------------------------
    def forward(self, xb, yb) -> tuple[float, Any]:
        """Forward and loss: (the loss as a float, the model's output array). Replays when a
        valid recording exists for this batch's key, else runs eagerly (recording)."""
        fast = self._fast
        if fast is not None and fast[0](xb, yb):
            return self._replay(fast[1], xb, yb)
        key = (xb.shape, xb.dtype, yb.shape, yb.dtype, self._modes())
        prog = self._programs.get(key)
        if prog is not None and prog.valid():
            target = self._lanesets.get(key) or prog  # its lanes hold the same parameters
            # the next step's guard: this recording, as long as no Module attribute is set
            prog.source.last[0] = tree_version()
            self._fast = (prog.source.guard, target)
            return self._replay(target, xb, yb)
        self._lanesets.pop(key, None)  # parameters replaced: recorded again with the program
        x, y = Tensor._wrap(xb), Tensor._wrap(yb)
        tape = Tape() if self.fallback is None else None
        split_now = tape is not None and _lanes.plan(xb.shape[0], self.lanes) is not None
        # lanes are checked by replaying this batch from the state before it (lane_record)
        self._before = _record.snapshot(self.model) if split_now else None
        if tape is None:
            out = self.model(x)
            loss = self._loss_call(out, yb)
        else:
            with tracing(tape):
                out = self.model(x)
                loss = self._loss_call(out, yb)
        self._pending = (tape, key, x, y, out, loss)
        if split_now:
            # Lanes: every step's arithmetic must be the lanes' own, the one that records them
            # too (else a run's weights would depend on when it recorded: a resumed run
            # records again). So backward and the recordings run now, and the step's result
            # is the lanes' replay of this batch; the eager step stands where they are refused.
            self.backward()  # the gradients are set: the lanes' sum, or eager's
            self._pending = _GRADIENTS_SET
            split = self._lanesets.get(key)
            if split is not None:
                return split.first, split.out
        return float(loss.data), out.data

    def _replay(self, target, xb, yb) -> tuple[float, Any]:
        """Forward and loss of a recording (a Program, or a LaneSet of one)."""
        self._pending = None
        self.replays += 1
        if type(target) is Program:
            self._current, self._lane = target, None
            return target.forward(xb, yb), target.output()
        self._lane = target
        return target.forward(xb, yb)

    def backward(self) -> None:
        """Every gradient of the last forward, in each parameter's ``.grad``."""
        if self._pending is _GRADIENTS_SET:  # the eager backward ran with its forward
            self._pending = None
            return
        if self._pending is None:
            if self._lane is not None:
                self._lane.backward()
                return
            self._set_fusion()
            self._current.backward()
            return
        tape, key, x, y, out, loss = self._pending
        self._pending = None
        for _, p in self._named_params():
            p.grad = None
        _backward(loss)
        if tape is not None:
            norm = norm_layers(self.model)
            self._record(tape, key, x, y, out, loss, norm)
            if self.fallback is None and self._before is not None:
                before, self._before = self._before, None
                _record.record_step(self, tape, key, x.data, y.data, out, loss, norm, before)
            for node in tape.nodes:  # the eager graph is done with: keep no leaf alive
                node.fn.parents = ()

    def update(self) -> None:
        """The optimizer's own step (after a replay, the parameters whose update ran inside
        the backward have no gradient, so it skips them)."""
        self._pending = None
        self.optimizer.step()

    def set_seed(self, value: float) -> None:
        """d total loss / d this step's loss, for a replay's backward with ``grads_into``
        (a step that records runs eager's backward from 1)."""
        if self._pending is None and self._current is not None:
            self._current.seed[...] = value

    def abandon(self) -> None:
        """Drop the forward just run (its loss was refused): no backward, no step."""
        self._pending = None

    # --- recording --------------------------------------------------------------------------
    def _record(self, tape: Tape, key, x, y, out, loss, norm) -> None:
        self.recordings += 1
        try:
            if tape.problem is not None:
                raise Unrecordable(tape.problem)
            if not tape.nodes:
                raise Unrecordable("the forward applied no op")
            fold = self.fuse_update and all(plain(g) for g in self.optimizer.param_groups)
            named = self._named_params()
            prog = Program(tape, x, y, out, loss, named, norm, self.fuse_update, fold=fold,
                           grads_into=self._grads_into)  # fmt: skip
        except Unrecordable as exc:
            self.fallback = str(exc)
            self._fast = None
            self._programs.clear()
            self._lanesets.clear()
            report.warn(
                f"compile: cannot record {exc}; this step trains eagerly from now on (the "
                "same results, without the speed-up)",
                stacklevel=4,
            )
            return
        self._programs[key] = self._current = prog
        self._set_fusion()  # so that describe() shows the plan before the first replay

    def _set_fusion(self) -> None:
        """Per step, before a replay's backward: see :meth:`Program.set_fusion`."""
        prog = self._current
        if prog.fused:
            allowed = self._fusion_allowed is None or self._fusion_allowed()
            prog.set_fusion(self.optimizer.param_groups, allowed)

    def _walk(self) -> tuple[int, list, list]:
        """(tree version, modules, parameters) of the model, re-walked after a change."""
        version = tree_version()
        if self._tree[0] != version:
            self._tree = (version, list(self.model.modules()), self.model.parameters())
        return self._tree

    def _modes(self) -> tuple:
        # train/eval of every module, and which parameters are frozen: freezing or unfreezing
        # (GradualUnfreezing between epochs) changes which gradients backward must compute
        _, modules, params = self._walk()
        return (
            tuple([m.training for m in modules]),
            tuple([p.requires_grad for p in params]),
        )

    def _named_params(self) -> list[tuple[str, Any]]:
        named = list(self.model.named_parameters())
        seen = {id(p) for _, p in named}
        extra = [(f"opt{i}", p) for i, p in enumerate(self.optimizer.params) if id(p) not in seen]
        return named + extra

    # --- describe (compile/describe.py) ----------------------------------------------------
    def describe(self) -> str:
        """Every recording's kernels with their shapes: forward, backward, then the update (a
        teaching view of one step of backprop); and how each batch shape is split over lanes."""
        return _describe.describe(self)

    def source(self) -> str:
        """The Python each recording replays: its forward and backward functions, one NumPy
        call a line, as generated from the recorded kernels (see
        :mod:`deltaprop.compile.source`)."""
        return _describe.source(self)


def compile_step(
    model: Module,
    loss_fn: Callable,
    optimizer: Optimizer,
    fuse_update: bool = True,
    lanes: int = 1,
) -> CompiledStep:
    """A compiled training step: ``step = dp.compile_step(model, loss_fn, optimizer)``, then
    ``loss = step(xb, yb)`` per batch (see :class:`CompiledStep`)."""
    return CompiledStep(model, loss_fn, optimizer, fuse_update=fuse_update, lanes=lanes)
