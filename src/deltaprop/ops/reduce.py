"""Reductions: sum, mean, max, min over ``axis`` (None, an int or a tuple), with ``keepdims``.

Backward spreads the gradient back over the reduced axes; sum and mean keep only the input
shape, max and min keep a mask of the winners.
"""

from __future__ import annotations

import builtins
import numbers

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_int
from ..errors import ShapeError


def _norm_axis(axis, ndim: int):
    """Axis as a sorted tuple of non-negative ints, or None for all axes."""
    if axis is None:
        return None
    if isinstance(axis, numbers.Integral):
        axes = (axis,)
    else:
        try:
            axes = tuple(axis)  # a tuple, a list, an array of axes
        except TypeError:
            axes = (axis,)  # 1.5, None inside...: refused below, by name
    out = []
    for a in axes:
        if type(a) is not int:  # NumPy integers are fine; 1.5 or "0" are named, not crashed on
            a = check_int(a, "axis", minimum=None)
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis: expected an axis of a {ndim}-D tensor, got {axis}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"axis: repeated axis in {axis}")
    return tuple(builtins.sorted(out))


def _expand(gy, in_shape, axis, keepdims):
    """Reshape the reduced gradient so it broadcasts against the input."""
    if keepdims or axis is None:  # already broadcastable (a 0-D gradient for axis=None)
        return gy
    shape = list(in_shape)
    for a in axis:
        shape[a] = 1
    return gy.reshape(shape)


class Sum(Function):
    __slots__ = ("axis", "keepdims", "in_shape")

    def forward(self, x):
        self.in_shape = x.shape
        return xp_of(x).asarray(x.sum(axis=self.axis, keepdims=self.keepdims))  # 0-D, not scalar

    def backward(self, gy):
        g = _expand(gy, self.in_shape, self.axis, self.keepdims)
        return xp_of(gy).broadcast_to(g, self.in_shape)


class Mean(Function):
    __slots__ = ("axis", "keepdims", "in_shape")

    def forward(self, x):
        self.in_shape = x.shape
        return xp_of(x).asarray(x.mean(axis=self.axis, keepdims=self.keepdims))

    def backward(self, gy):
        if self.axis is None:
            n = 1
            for d in self.in_shape:
                n *= d
        else:
            n = 1
            for a in self.axis:
                n *= self.in_shape[a]
        g = _expand(gy, self.in_shape, self.axis, self.keepdims) / n
        return xp_of(gy).broadcast_to(g, self.in_shape)


class Max(Function):
    """Max (or min) over axes; ties share the gradient equally (as torch.amax)."""

    __slots__ = ("axis", "keepdims", "take_min", "in_shape")

    def forward(self, x):
        self.in_shape = x.shape
        if self.take_min:
            y = x.min(axis=self.axis, keepdims=True)
        else:
            y = x.max(axis=self.axis, keepdims=True)
        if self.needs[0]:
            mask = x == y
            count = mask.sum(axis=self.axis, keepdims=True)
            self.save(mask, count)
        if not self.keepdims:
            y = y.reshape(
                ()
                if self.axis is None
                else [d for i, d in enumerate(x.shape) if i not in self.axis]
            )
        return y

    def backward(self, gy):
        mask, count = self.saved
        g = _expand(gy, self.in_shape, self.axis, self.keepdims)
        return mask * (g / count)


def _reduce_axis(x: Tensor, axis):
    if x.data.ndim == 0 and axis is not None:
        raise ShapeError(f"axis: a 0-D tensor has no axis {axis}")
    return _norm_axis(axis, x.data.ndim)


def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    return Sum.apply(x, axis=_reduce_axis(x, axis), keepdims=keepdims)


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    x = as_tensor(x)
    return Mean.apply(x, axis=_reduce_axis(x, axis), keepdims=keepdims)


def max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value over ``axis``."""
    x = as_tensor(x)
    _check_nonempty(x, "max")
    return Max.apply(x, axis=_reduce_axis(x, axis), keepdims=keepdims, take_min=False)


def min(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest value over ``axis``."""
    x = as_tensor(x)
    _check_nonempty(x, "min")
    return Max.apply(x, axis=_reduce_axis(x, axis), keepdims=keepdims, take_min=True)


def _check_nonempty(x: Tensor, name: str) -> None:
    if x.data.size == 0:
        raise ShapeError(f"{name}: expected a non-empty tensor, got shape {x.shape}")
