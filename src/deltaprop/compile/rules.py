"""Recording rules: which replay kernel each recorded op becomes.

A rule takes the recorded :class:`~deltaprop.compile.trace.Node` and a :class:`Context`
(value numbers of its inputs and output, the model's batch-norm layers) and returns a
:class:`~deltaprop.compile.kernel.Kernel`, or raises :class:`Unrecordable` naming the op.
An op with no rule at all is unrecordable too: the step then trains eagerly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..ops import (
    activation,
    conv,
    elementwise,
    linalg,
    loss,
    loss_weighted,
    norm_batch,
    norm_layer,
    pool,
    reduce,
    shape,
)
from ..ops.dropout import Dropout
from ..ops.embedding import Embedding, _as_indices
from . import norm
from .dense import LinearKernel, ReLUKernel, SigmoidKernel, TanhKernel
from .dropout import DropoutKernel
from .generic import FunctionKernel, batch_norm_hook, embedding_hook
from .kernel import Kernel
from .lane_norm import LaneBatchNormKernel
from .losses import MSEKernel, SoftmaxCrossEntropyKernel


class Unrecordable(Exception):
    """This forward cannot be replayed; the message names the op and why."""


class Context:
    """What a rule needs beyond its node: ``ins`` (value numbers of the inputs), ``out`` (of
    the output), ``x`` and ``batch`` (the batch's value number and array), ``norm_layers``
    (batch-norm layers by the id of their running-mean array) and ``lane`` (the recording is
    one lane of a split batch, :mod:`deltaprop.compile.lanes`)."""

    def __init__(
        self, ins, out: int, x: int, batch, norm_layers: dict[int, Any], lane: bool = False
    ) -> None:
        self.ins, self.out, self.x, self.batch = ins, out, x, batch
        self.norm_layers, self.lane = norm_layers, lane


def _generic(node, ctx: Context, before=None) -> Kernel:
    arrays = [t.data for t in node.inputs]
    return FunctionKernel(
        node.fn, ctx.ins, ctx.out, [a.shape for a in arrays], [a.dtype for a in arrays], before
    )


def _dense_2d(node) -> bool:
    return node.inputs[0].data.ndim == 2


def _linear(node, ctx):
    if not _dense_2d(node):  # (..., in) inputs: the op's own code handles the reshapes
        return _generic(node, ctx)
    x, w = node.inputs[0].data, node.inputs[1].data
    return LinearKernel(ctx.ins, ctx.out, node.fn.needs, x.shape, w.shape, w.dtype)


def _activation(kernel_class):
    def rule(node, ctx):
        return kernel_class(ctx.ins, ctx.out, node.fn.needs, node.output.data, inplace=False)

    return rule


def _dropout(node, ctx):
    fn = node.fn
    return DropoutKernel(ctx.ins, ctx.out, fn.needs, node.output.data, fn.p, fn.generator,
                         predrawn=ctx.lane)  # fmt: skip


def _cross_entropy(node, ctx):
    fn = node.fn
    if not fn.sparse:  # probabilities (mixup): the op's own code
        return _generic(node, ctx)
    if fn.reduction == "none":
        raise Unrecordable("SoftmaxCrossEntropy with reduction='none' (the loss must be a number)")
    logits = node.inputs[0].data
    labels = node.inputs[1].data.dtype
    return SoftmaxCrossEntropyKernel(
        ctx.ins, ctx.out, fn.needs, logits.shape, logits.dtype, fn.reduction, labels
    )


def _mse(node, ctx):
    fn = node.fn
    if fn.reduction == "none":
        raise Unrecordable("MSE with reduction='none' (the loss must be a number)")
    p = node.inputs[0].data
    return MSEKernel(ctx.ins, ctx.out, fn.needs, p.shape, p.dtype, fn.reduction)


def _batch_norm(node, ctx):
    running = node.attrs.get("running")
    module = None
    if running is not None:
        module = ctx.norm_layers.get(id(running[0]))
        if module is None:
            raise Unrecordable(
                f"{node.op} with running statistics that belong to no BatchNorm layer of the "
                "model (a functional batch_norm call)"
            )
    fn, x = node.fn, node.inputs[0].data
    if ctx.lane and type(fn) is norm_batch.BatchNorm:  # the whole batch's statistics
        return LaneBatchNormKernel(fn, ctx.ins, ctx.out, module)
    if norm.recordable(fn, x, module, node.attrs):  # buffers, bit for bit (compile/norm.py)
        training = type(fn) is norm_batch.BatchNorm
        return norm.BatchNormKernel(ctx.ins, ctx.out, fn.needs, x, fn.has_gamma, fn.has_beta,
                                    fn.eps, training, module)  # fmt: skip
    # anything else (4-D images, another memory layout): the op's own code
    hook = None if module is None else batch_norm_hook(fn, module)
    return _generic(node, ctx, before=hook)


def _embedding(node, ctx):
    fn = node.fn
    indices = node.attrs["indices"]
    x = node.inputs[0]  # the table; the batch came in as the indices attribute
    if indices.shape != ctx.batch.shape or not (indices == ctx.batch).all():
        raise Unrecordable("Embedding whose indices are not the batch itself")
    num, who = x.data.shape[0], "embedding"

    def check(batch):
        return _as_indices(batch, num, who, np)

    return _generic(node, ctx, before=embedding_hook(fn, ctx.x, check))


def _basic_getitem(node, ctx):
    if not shape._is_basic(node.fn.index):
        raise Unrecordable("GetItem with an array index (fancy indexing)")
    return _generic(node, ctx)


_GENERIC = (
    activation.LeakyReLU, activation.ELU, activation.GELU, activation.Softmax,
    activation.LogSoftmax, conv.Conv2d, pool.MaxPool2d, pool.AvgPool2d, norm_layer.LayerNorm,
    reduce.Sum, reduce.Mean, shape.Reshape, shape.Transpose, shape.Concatenate, shape.Stack,
    elementwise.Add, elementwise.Sub, elementwise.Mul, elementwise.Div, elementwise.Neg,
    elementwise.Exp, elementwise.Log, elementwise.Sqrt, elementwise.PowScalar, elementwise.Pow,
    elementwise.Abs, elementwise.Clip, elementwise.Maximum, linalg.MatMul, loss.NLL,
    loss.BCEWithLogits, loss.Huber, loss_weighted.WeightedSoftmaxCrossEntropy,
)  # fmt: skip

RULES: dict[type, Callable[[Any, Context], Kernel]] = {
    **dict.fromkeys(_GENERIC, _generic),
    linalg.Linear: _linear,
    activation.ReLU: _activation(ReLUKernel),
    activation.Tanh: _activation(TanhKernel),
    activation.Sigmoid: _activation(SigmoidKernel),
    Dropout: _dropout,
    loss.SoftmaxCrossEntropy: _cross_entropy,
    loss.MSE: _mse,
    norm_batch.BatchNorm: _batch_norm,
    norm_batch.BatchNormEval: _batch_norm,
    Embedding: _embedding,
    shape.GetItem: _basic_getitem,
}

#: The activations that may overwrite their input's buffer (see dense.py's fusions).
INPLACE_ACTIVATIONS = (ReLUKernel, TanhKernel, SigmoidKernel)


def kernel_for(node, ctx: Context) -> Kernel:
    """The replay kernel of ``node``; Unrecordable names the op when no rule covers it."""
    rule = RULES.get(type(node.fn))
    if rule is None:
        raise Unrecordable(f"{node.op} (no recording rule for this op)")
    before, after = node.inputs[0].data.dtype, node.output.data.dtype
    if before.kind == after.kind == "f" and before != after and node.inputs[0].requires_grad:
        # eager promotes (a float64 layer after float32 ones), and the gradients widen on the
        # way back; a kernel's buffers hold one dtype each (the batch itself needs none)
        raise Unrecordable(f"{node.op}: a {before.name} input gives a {after.name} output")
    return rule(node, ctx)
