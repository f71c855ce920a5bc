"""A recording: the kernels of one forward, loss and backward, and how to replay them.

Built once from a tape (:mod:`~deltaprop.compile.trace`): every tensor the forward touched
becomes a numbered value (``x``, ``y``, the parameters by their names, constants, and ``h1``,
``h2``, ... for op outputs), every op a kernel (:mod:`~deltaprop.compile.rules`). The backward
plan is fixed at the same time: kernels run in reverse recording order (a reverse topological
order), and for each gradient that flows into a value it is known whether it is the first
(stored) or a later one (added, as the engine's gradient table does).

The kernels' lines are then strung into one forward and one backward function
(:mod:`~deltaprop.compile.source`): a replay is two calls of plain NumPy code, no Tensor, no
Function node, no graph walk, no heap, no loop over kernels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..ops.pool import MaxPool2d
from .dense import LinearKernel, ReLUKernel
from .fusion import fold_biases, fusable, set_fusion
from .generic import FunctionKernel
from .kernel import Kernel
from .norm import BatchNormKernel
from .rules import INPLACE_ACTIVATIONS, Context, Unrecordable, kernel_for
from .source import Source
from .trace import Tape


class Program:
    """The replayable recording of one (shape, dtype, mode) of a step.

    Args:
        tape: the ops of the recorded forward (model, then loss).
        x, y: the Tensors the batch and the targets were wrapped in.
        out, loss: the model's output Tensor and the loss Tensor.
        params: ``(name, Parameter)`` pairs: every tensor the step may differentiate.
        norm_layers: batch-norm layers by the id of their running-mean array.
        fuse_update: whether the optimizer is plain SGD's, so that linear weights may be
            updated inside their backward (decided per step: see ``fused``).
        fold: fold those layers' biases into their GEMMs (:mod:`~deltaprop.compile.fusion`):
            when the update is fused as the recording is made (no momentum, no decay).
        grads_into: ``{id(parameter): array}``, where each of those parameters' gradient is
            written (a data-parallel step's slot of the gradient sum: linear layers' GEMMs
            write there themselves, other gradients are copied); the backward then starts
            from :attr:`seed`, which the caller sets per step (the rank's share of the batch).
        lane_seed: for one lane of a batch split over threads (:mod:`~deltaprop.compile.lanes`):
            d total loss / d this lane's loss (its share of the batch), which starts the
            backward instead of 1; the gradients then go to :attr:`lane_grads` (one entry
            per parameter, None where none flows), not to the parameters' ``.grad``.
    """

    def __init__(
        self,
        tape: Tape,
        x,
        y,
        out,
        loss,
        params,
        norm_layers,
        fuse_update=False,
        lane_seed=None,
        fold=False,
        grads_into=None,
    ):
        self.names: list[str] = []
        self.vals: list[Any] = []
        self.kernels: list[Kernel] = []
        by_tensor: dict[int, int] = {}
        by_array: dict[int, int] = {}
        self._params: list[tuple[Any, int]] = []  # (Parameter, value number)
        batch = x.data
        n = batch.shape[0] if batch.ndim else 0

        def new(name: str, array) -> int:
            self.names.append(name)
            self.vals.append(array)
            return len(self.vals) - 1

        self.x = by_tensor[id(x)] = by_array[id(x.data)] = new("x", x.data)
        self.y = by_tensor[id(y)] = by_array[id(y.data)] = new("y", y.data)
        for name, p in params:
            i = by_tensor[id(p)] = by_array[id(p.data)] = new(name, p.data)
            self._params.append((p, i))

        def ref(t: Tensor, op: str) -> int:
            i = by_tensor.get(id(t))
            if i is None:
                i = by_array.get(id(t.data))
            if i is None:
                a = t.data
                if t.requires_grad:
                    raise Unrecordable(f"{op}: an input needs a gradient but is no parameter")
                if type(a) is not np.ndarray:
                    raise Unrecordable(f"{op}: an input is not a NumPy array (CPU only)")
                if n > 1 and a.ndim and a.shape[0] == n:
                    raise Unrecordable(
                        f"{op}: an input shaped like the batch that is neither the batch, the "
                        "targets nor an op's output (computed from .data in Python, or the "
                        "targets converted to another dtype)"
                    )
                i = new(f"c{len(self.vals)}", a)  # a constant: kept as recorded
            by_tensor[id(t)] = i
            return i

        for node in tape.nodes:
            ins = [ref(t, node.op) for t in node.inputs]
            if type(node.output.data) is not np.ndarray:
                raise Unrecordable(f"{node.op}: its output is not a NumPy array (CPU only)")
            o = new(f"h{len(self.kernels) + 1}", node.output.data)
            by_tensor[id(node.output)] = o
            ctx = Context(ins, o, self.x, batch, norm_layers, lane=lane_seed is not None)
            self.kernels.append(kernel_for(node, ctx))
        if id(loss) not in by_tensor or id(out) not in by_tensor:
            raise Unrecordable("the loss was not computed by recorded ops")
        self.loss, self.out = by_tensor[id(loss)], by_tensor[id(out)]
        if self.kernels[-1].out != self.loss or loss.data.shape != ():
            raise Unrecordable("the loss is not a single number made by the last op")
        self.names[self.loss] = "loss"
        self._pool_before_relu()
        self.lane = lane_seed is not None
        #: d total loss / d this loss: 1, a lane's share, or set by the caller per step
        self.seed = np.full((), 1.0 if lane_seed is None else lane_seed, dtype=loss.data.dtype)
        self.seed_varies = self.lane or grads_into is not None
        fuse_update = fuse_update and not self.lane  # lanes would update one weight at once
        self._made = {k.out for k in self.kernels}
        self._fuse_activations()
        self._plan_backward()
        if grads_into:
            self._route_gradients(grads_into)
        #: (linear kernel, its weight or bias, True for the weight): the parameters whose plain
        #: SGD update may run inside the backward
        self.fused = fusable(self) if fuse_update else []
        for kernel, _, is_weight in self.fused:
            kernel.set_fusable(is_weight)
        if fold:
            fold_biases(self)  # the fused update's linear layers: [x, 1] @ [W; b]
        # (number of optimizer groups, [(kernel, is_weight, the parameter's group)]): found
        # by the step once, and again when the number of groups changes
        self.fusion_groups: tuple | None = None
        self.source = Source(self)

    def made_by_op(self, i: int) -> bool:
        """Whether value i is an op's output (not the batch, a parameter or a constant)."""
        return i in self._made

    # --- building -------------------------------------------------------------------------
    def replace_kernel(self, old: Kernel, new: Kernel) -> None:
        """Put ``new`` where ``old`` stands, in the forward, the backward plan and the fused
        updates (a pass that rewrites a kernel: compile/fusion.py)."""
        self.kernels = [new if k is old else k for k in self.kernels]
        self._plan = [(new if k is old else k, w, s) for k, w, s in self._plan]
        self.fused = [(new if k is old else k, p, w) for k, p, w in self.fused]

    def rebind(self, i: int, array) -> None:
        """Value i (a parameter) is now ``array`` (its Parameter was rebound to it)."""
        self.vals[i] = array

    def consumers(self) -> list[int]:
        count = [0] * len(self.vals)
        for k in self.kernels:
            for i in k.inputs:
                count[i] += 1
        return count

    def _pool_before_relu(self) -> None:
        """ReLU then max pooling becomes max pooling then ReLU, on a quarter of the elements
        (2x2 windows): the same numbers, as ReLU keeps order (the largest of a window's ReLUs
        is the ReLU of its largest), and the same gradients (the window's first maximum gets
        ``dy`` times ReLU's mask there, every other element 0, in either order). Only the sign
        of a zero may differ (a window of a 0.0 and negatives gives 0.0 for -0.0). Used where
        the ReLU's output feeds the pooling alone."""
        count = self.consumers()
        made_by = {k.out: n for n, k in enumerate(self.kernels)}
        for j, pool in enumerate(self.kernels):
            if not isinstance(pool, FunctionKernel) or type(pool.fn) is not MaxPool2d:
                continue
            i = made_by.get(pool.inputs[0])
            relu = None if i is None else self.kernels[i]
            if type(relu) is not ReLUKernel or count[relu.out] != 1 or relu.out == self.out:
                continue
            mid, out = relu.out, pool.out  # mid: now the pooled values before the ReLU
            pool.inputs = [relu.inputs[0]]
            pool.out = mid
            self.vals[mid] = self.vals[out]
            self.kernels[i] = pool
            self.kernels[j] = ReLUKernel([mid], out, relu.needs, self.vals[out], inplace=False)

    def _fuse_activations(self) -> None:
        """An activation whose input is a linear's (or an affine batch norm's) output used
        nowhere else overwrites it."""
        count = self.consumers()
        made_by = {k.out: k for k in self.kernels}
        for k in self.kernels:
            if isinstance(k, INPLACE_ACTIVATIONS):
                src = k.inputs[0]
                producer = made_by.get(src)
                # linear's backward reads its input, never its output; batch norm's reads
                # x_hat, not its output, when it has gamma or beta (without, they are one)
                overwritable = isinstance(producer, LinearKernel) or (
                    isinstance(producer, BatchNormKernel) and producer.y is not None
                )
                if overwritable and count[src] == 1 and src != self.out:
                    k.inplace, k.y = True, None

    def _plan_backward(self) -> None:
        """For each kernel (reverse order): the inputs that need a gradient, and whether its
        output's final gradient is a buffer the kernel may overwrite (``may_write``)."""
        contributions = [0] * len(self.vals)
        owned_once = [False] * len(self.vals)
        for k in self.kernels:
            for j, (i, need) in enumerate(zip(k.inputs, k.needs)):
                if need:
                    contributions[i] += 1
                    owned_once[i] = bool(k.owned[j]) if j < len(k.owned) else False
        # per kernel, reverse order: (kernel, may_write, [(input position, value) needing a
        # gradient]); whether a gradient is stored or added is decided where the source is
        # written (compile/source.py), which also knows which ones may be None
        self._plan: list[tuple[Kernel, bool, list[tuple[int, int]]]] = []
        for k in reversed(self.kernels):
            steps = [(j, i) for j, (i, need) in enumerate(zip(k.inputs, k.needs)) if need]
            may_write = contributions[k.out] > 1 or owned_once[k.out]
            self._plan.append((k, may_write, steps))
        self._exclusive = [c > 1 or o for c, o in zip(contributions, owned_once)]
        self._contributions = contributions
        # Each parameter's gradient, as the optimizer and clipping will see it: a buffer of
        # its own (a kernel's, or a copy), wrapped once in a Tensor that p.grad points to.
        self._grad_out = []
        for p, i in self._params:
            own = None if self._exclusive[i] else np.empty_like(p.data)
            self._grad_out.append((p, i, own, Tensor._wrap(own)))
        self.lane_grads: list[Any] = [None] * len(self._params)

    def _route_gradients(self, into: dict[int, Any]) -> None:
        """Each listed parameter's gradient in its array: a linear layer whose weight (bias)
        gradient is its own buffer writes it there from its GEMM (row sum); any other is
        copied there at the end of the backward."""
        linear = {}
        for k in self.kernels:
            if type(k) is LinearKernel:
                linear[k.inputs[1]] = (k, "gw")
                if k.has_b:
                    linear[k.inputs[2]] = (k, "gb")
        for n, (p, i, _, _) in enumerate(self._grad_out):
            dest = into.get(id(p))
            if dest is None or dest.dtype != p.data.dtype:  # (a wider bucket: cast by a copy)
                continue
            k, slot = linear.get(i, (None, None))
            if k is not None and self._exclusive[i] and getattr(k, slot) is not None:
                setattr(k, slot, dest)
            else:
                self._grad_out[n] = (p, i, dest, Tensor._wrap(dest))

    # --- replay -----------------------------------------------------------------------------
    def valid(self) -> bool:
        """Whether every parameter still holds the array the kernels were built on (a
        ``load_state_dict`` or a rollback rebinds them)."""
        return self.source.valid()

    def forward(self, xb, yb) -> float:
        """Forward and loss on a batch; returns the loss as a float."""
        return self.source.forward(xb, yb)

    def output(self):
        """The model's output array of the last forward (a buffer: read it before the next)."""
        return self.vals[self.out]

    def backward(self) -> None:
        """Every gradient of the last forward; each parameter's ``.grad`` points to its own."""
        self.source.backward()

    def set_fusion(self, groups: list[dict], allowed: bool) -> None:
        """Per step: which fused updates run (:func:`~deltaprop.compile.fusion.set_fusion`)."""
        set_fusion(self, groups, allowed)

    # --- describe ---------------------------------------------------------------------------
    def describe(self) -> str:
        """The kernels, one per line: forward in order, then backward in order."""
        name = self.names.__getitem__
        shapes = {i: _shape(v) for i, v in enumerate(self.vals) if v is not None}
        lines = [f"values: x {shapes[self.x]}, y {shapes[self.y]}"]
        lines += [f"  {name(i)} {shapes[i]}" for _, i in self._params]
        lines.append("forward:")
        for n, k in enumerate(self.kernels, 1):
            lines.append(f"  {n:2d}. {k.text(name)[0]}  -> {shapes.get(k.out, '?')}")
        lines.append("backward:")
        for n, (k, _, steps) in enumerate(self._plan, 1):
            if steps:
                lines.append(f"  {n:2d}. {k.text(name)[1]}")
        return "\n".join(lines)


def _shape(a) -> str:
    return str(tuple(np.shape(a)))
