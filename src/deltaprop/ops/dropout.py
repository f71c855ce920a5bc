"""Inverted dropout: zero each unit with probability p and scale survivors by 1/(1-p), so the
expected activation is unchanged and evaluation needs no rescaling."""

from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import uniform_like
from ..checks import check_fraction


class Dropout(Function):
    __slots__ = ("p", "generator")

    def forward(self, x):
        keep = uniform_like(x, self.generator) >= self.p
        mask = keep * x.dtype.type(1.0 / (1.0 - self.p))
        self.save(mask)  # the scaled mask is the whole local derivative
        return x * mask

    def backward(self, gy):
        return gy * self.saved[0]


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Drop units with probability ``p`` while training; identity when ``training`` is False."""
    if not (type(p) is float and 0.0 <= p < 1.0):  # the usual float needs no more (every step)
        p = check_fraction(p, "p", closed_low=True)
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    return Dropout.apply(x, p=p, generator=generator)
