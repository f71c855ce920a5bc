"""Differentiable operations. Importing this package attaches the operator methods to Tensor."""

from __future__ import annotations

from ..autograd.tensor import Tensor, as_tensor
from .activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d
from .distill import distillation_loss
from .dropout import dropout
from .elementwise import (
    abs,
    add,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from .embedding import embedding
from .linalg import linear, matmul
from .loss import bce_with_logits, cross_entropy, huber_loss, mse_loss, nll_loss
from .norm_batch import batch_norm as batch_norm  # not in __all__ yet: tests/ops/test_norm.py
from .norm_batch import batch_norm2d
from .norm_layer import layer_norm as layer_norm
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduce import max, mean, min, sum
from .shape import concatenate, flatten, getitem, reshape, stack, transpose

__all__ = [
    "abs", "add", "bce_with_logits", "clip", "concatenate", "cross_entropy", "div", "dropout",
    "elu", "exp", "flatten", "gelu", "getitem", "huber_loss", "leaky_relu", "linear", "log",
    "log_softmax", "matmul", "max", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg",
    "nll_loss", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "stack", "sub", "sum",
    "tanh", "transpose", "where",
    # images and categories
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm2d", "conv2d", "embedding", "max_pool2d",
    # knowledge distillation
    "distillation_loss",
]  # fmt: skip


def _compare(op):
    def method(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self.data, other))  # boolean result: no graph

    return method


def _attach() -> None:
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = sub
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__mul__ = mul
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__truediv__ = div
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__pow__ = pow
    T.__rpow__ = lambda self, other: pow(as_tensor(other, like=self), self)
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(as_tensor(other, like=self), self)
    T.__neg__ = neg
    T.__getitem__ = getitem
    T.__lt__ = _compare(lambda a, b: a < b)
    T.__le__ = _compare(lambda a, b: a <= b)
    T.__gt__ = _compare(lambda a, b: a > b)
    T.__ge__ = _compare(lambda a, b: a >= b)
    T.sum = sum
    T.mean = mean
    T.max = max
    T.min = min
    T.exp = exp
    T.log = log
    T.sqrt = sqrt
    T.abs = abs
    T.__abs__ = abs
    T.clip = clip
    T.relu = relu
    T.leaky_relu = leaky_relu
    T.elu = elu
    T.gelu = gelu
    T.sigmoid = sigmoid
    T.tanh = tanh
    T.softmax = softmax
    T.log_softmax = log_softmax
    T.reshape = reshape
    T.flatten = flatten
    T.transpose = transpose
    T.T = property(lambda self: transpose(self))


_attach()
