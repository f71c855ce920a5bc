"""The generic replay kernel: an op's own Function ``forward``/``backward`` on arrays.

For the ops without a buffer kernel of their own (convolution, pooling, layer norm, batch
norm on 4-D input or where compile/norm.py's kernel does not apply, gelu, the shape ops, ...)
the recorded Function object is kept and its two methods are
called directly on the arrays: the same code as eager, so bit-identical, with no Tensor
objects, no graph nodes and no engine walk, but with the op's own allocations.

Ops whose attributes change from step to step get a ``before`` hook that sets them again:
(for those) batch norm's running statistics (consumed by every forward) and its layer's
batch counter, and an embedding's indices (the batch itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd.engine import unbroadcast
from ..autograd.function import Function
from .kernel import Kernel


class FunctionKernel(Kernel):
    """Replays ``fn`` (see the module doc); ``shapes``/``dtypes`` are those of the inputs, to
    which returned gradients are summed and cast as the engine would."""

    def __init__(self, fn: Function, inputs, out, shapes, dtypes, before=None) -> None:
        self.fn = fn
        self.op = type(fn).__name__
        self.inputs, self.out = list(inputs), out
        self.needs = tuple(fn.needs)
        self.shapes, self.dtypes = list(shapes), list(dtypes)
        self.before: Callable[[list], None] | None = before
        self.owned = (False,) * len(self.inputs)

    def forward(self, vals):
        if self.before is not None:
            self.before(vals)
        vals[self.out] = self.fn.forward(*[vals[i] for i in self.inputs])

    def backward(self, vals, gy, may_write):
        grads = self.fn.backward(gy)
        if type(grads) is not tuple:
            grads = (grads,)
        out = []
        for g, need, shape in zip(grads, self.needs, self.shapes):
            if g is None or not need:
                out.append(None)
                continue
            if g.shape != shape:
                g = unbroadcast(g, shape, self.op)
            out.append(g)
        return tuple(out)

    def text(self, name):
        fwd, bwd = super().text(name)
        return f"{fwd}  [the op's own code]", bwd


def batch_norm_hook(fn: Function, module: Any) -> Callable[[list], None]:
    """Before each forward of a batch-norm op: hand it its layer's running statistics again
    (the op drops them after use) and, in training, count the batch as the layer's forward
    does (``momentum=None`` averages over that count)."""
    training = type(fn).__name__ == "BatchNorm"

    def before(vals):
        if module.running_mean is not None:
            fn.running = (module.running_mean.data, module.running_var.data)
        if training:
            fn.momentum = module.count_batch()

    return before


def embedding_hook(fn: Function, x_index: int, check: Callable) -> Callable[[list], None]:
    """Before each forward of an embedding: the indices are this step's batch, checked as the
    eager op checks them (whole numbers in 0..num-1)."""

    def before(vals):
        fn.indices = check(vals[x_index])

    return before
