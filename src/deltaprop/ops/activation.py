"""Activations, each a fused Function with the cheapest memo for its derivative:
a mask for relu, the output for sigmoid/tanh/softmax, the input for gelu."""

from __future__ import annotations

import math

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import erf, xp_of
from ..checks import check_choice


class ReLU(Function):
    __slots__ = ()

    def forward(self, x):
        if self.needs[0]:
            mask = x > 0
            self.save(mask)
            return x * mask
        return xp_of(x).maximum(x, 0)

    def backward(self, gy):
        return gy * self.saved[0]


class LeakyReLU(Function):
    __slots__ = ("slope",)

    def forward(self, x):
        xp = xp_of(x)
        scale = xp.where(x > 0, xp.ones((), x.dtype), xp.asarray(self.slope, x.dtype))
        if self.needs[0]:
            self.save(scale)  # the local derivative itself: 1 or slope
        return x * scale

    def backward(self, gy):
        return gy * self.saved[0]


class ELU(Function):
    """alpha (e^x - 1) for x <= 0; derivative y + alpha there, 1 elsewhere."""

    __slots__ = ("alpha",)

    def forward(self, x):
        xp = xp_of(x)
        pos = x > 0
        y = xp.where(pos, x, self.alpha * xp.expm1(xp.minimum(x, 0)))
        if self.needs[0]:
            self.save(xp.where(pos, xp.ones((), x.dtype), y + self.alpha))
        return y

    def backward(self, gy):
        return gy * self.saved[0]


_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = math.sqrt(2.0 / math.pi)


GELU_FORMS = ("none", "tanh")  # approximate=: exact (erf), or the tanh approximation


class GELU(Function):
    """x * Phi(x) (exact, with erf) or its tanh approximation, as torch's approximate=."""

    __slots__ = ("approximate",)

    def forward(self, x):
        xp = xp_of(x)
        if self.approximate == "tanh":
            inner = _TANH_C * (x + 0.044715 * x**3)
            t = xp.tanh(inner)
            if self.needs[0]:
                self.save(x, t)
            return 0.5 * x * (1 + t)
        cdf = 0.5 * (1 + erf(x * _SQRT_HALF))
        if self.needs[0]:
            self.save(x, cdf)
        return x * cdf

    def backward(self, gy):
        x, c = self.saved
        xp = xp_of(x)
        if self.approximate == "tanh":
            d_inner = _TANH_C * (1 + 3 * 0.044715 * x**2)
            return gy * (0.5 * (1 + c) + 0.5 * x * (1 - c * c) * d_inner)
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
        return gy * (c + x * pdf)


class Sigmoid(Function):
    __slots__ = ()

    def forward(self, x):
        # 1/(1+e^-x) overflows e^-x for x << 0; the tanh form is exact and never overflows.
        y = 0.5 * (1 + xp_of(x).tanh(0.5 * x))
        self.save(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * y * (1 - y)


class Tanh(Function):
    __slots__ = ()

    def forward(self, x):
        y = xp_of(x).tanh(x)
        self.save(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy * (1 - y * y)


class Softmax(Function):
    __slots__ = ("axis",)

    def forward(self, x):
        xp = xp_of(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))  # shift: exp never overflows
        y = e / e.sum(axis=self.axis, keepdims=True)
        self.save(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        # J^T gy for J = diag(y) - y y^T, without building J
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    __slots__ = ("axis",)

    def forward(self, x):
        xp = xp_of(x)
        z = x - x.max(axis=self.axis, keepdims=True)
        y = z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))  # log-sum-exp
        self.save(y)
        return y

    def backward(self, gy):
        y = self.saved[0]
        return gy - xp_of(y).exp(y) * gy.sum(axis=self.axis, keepdims=True)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return ReLU.apply(x if isinstance(x, Tensor) else as_tensor(x))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU.apply(as_tensor(x), slope=float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    return ELU.apply(as_tensor(x), alpha=float(alpha))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x); ``approximate="tanh"`` for the tanh form."""
    if approximate not in GELU_FORMS:
        approximate = check_choice(approximate, GELU_FORMS, "approximate")
    return GELU.apply(as_tensor(x), approximate=approximate)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x)."""
    return Sigmoid.apply(x if isinstance(x, Tensor) else as_tensor(x))


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(x if isinstance(x, Tensor) else as_tensor(x))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along ``axis``."""
    return Softmax.apply(as_tensor(x), axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``."""
    return LogSoftmax.apply(as_tensor(x), axis=axis)
