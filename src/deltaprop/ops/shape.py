"""Shape ops: reshape, transpose, indexing, concatenate, stack. Backward only moves values."""

from __future__ import annotations

from collections.abc import Sequence

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_int
from ..errors import ShapeError


class Reshape(Function):
    __slots__ = ("new_shape", "in_shape")

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.new_shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Transpose(Function):
    __slots__ = ("axes",)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return gy.transpose(inverse)


def _is_basic(index) -> bool:
    """Ints, slices, None, ... and boolean masks never repeat an element; integer arrays can."""
    items = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(i, (int, slice))
        or i is None
        or i is Ellipsis
        or (hasattr(i, "dtype") and i.dtype == bool)
        for i in items
    )


class GetItem(Function):
    __slots__ = ("index", "in_shape", "in_dtype")

    def forward(self, x):
        self.in_shape = x.shape
        self.in_dtype = x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = xp_of(gy)
        g = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _is_basic(self.index):
            g[self.index] = gy
        else:
            # Repeated integer indices must accumulate, which plain assignment would not do.
            xp.add.at(g, self.index, gy)
        return g


class Concatenate(Function):
    __slots__ = ("axis", "sizes")

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp_of(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        out, start = [], 0
        for size, need in zip(self.sizes, self.needs):
            if need:
                idx = [slice(None)] * gy.ndim
                idx[self.axis] = slice(start, start + size)
                out.append(gy[tuple(idx)])
            else:
                out.append(None)
            start += size
        return tuple(out)


class Stack(Function):
    __slots__ = ("axis",)

    def forward(self, *xs):
        return xp_of(xs[0]).stack(xs, axis=self.axis)

    def backward(self, gy):
        xp = xp_of(gy)
        return tuple(
            xp.take(gy, i, axis=self.axis) if need else None for i, need in enumerate(self.needs)
        )


def reshape(x: Tensor, *shape) -> Tensor:
    """Same values, new shape (one dimension may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    x = as_tensor(x)
    try:
        # Resolve -1 now so that a bad shape fails here, with both shapes in the message.
        new_shape = xp_of(x.data).empty(x.shape, dtype=bool).reshape(shape).shape
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape a tensor of shape {x.shape} into {shape}"
        ) from None
    return Reshape.apply(x, new_shape=new_shape)


def flatten(x: Tensor, start_axis: int = 1) -> Tensor:
    """Merge axes from ``start_axis`` on: (N, C, H, W) -> (N, C*H*W)."""
    x = as_tensor(x)
    return reshape(x, tuple(x.shape[:start_axis]) + (-1,))


def transpose(x: Tensor, *axes) -> Tensor:
    """Permute axes (reverse them when none are given)."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    x = as_tensor(x)
    if axes:
        in_range = all(-x.ndim <= a < x.ndim for a in axes)  # else 5 % 2 would pass as 1
        if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
        axes = tuple(a % x.ndim for a in axes)
    return Transpose.apply(x, axes=axes or None)


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]`` with slices, ints, None, Ellipsis, boolean masks or integer arrays."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = xp_of(x.data).asarray(index)
    return GetItem.apply(x, index=index)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _tensors(tensors, "concatenate")
    axis = _axis(axis, ts[0].ndim, "concatenate")
    for t in ts[1:]:
        if t.ndim != ts[0].ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape)) if i != axis
        ):
            raise ShapeError(
                f"concatenate: shapes {[u.shape for u in ts]} differ outside axis {axis}"
            )
    return Concatenate.apply(*ts, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    ts = _tensors(tensors, "stack")
    if any(t.shape != ts[0].shape for t in ts):
        raise ShapeError(f"stack: expected tensors of one shape, got {[t.shape for t in ts]}")
    return Stack.apply(*ts, axis=_axis(axis, ts[0].ndim + 1, "stack"))


def _axis(axis: int, ndim: int, name: str) -> int:
    """``axis`` as 0..ndim-1; out of range is an error (a plain ``%`` would wrap it silently)."""
    axis = check_int(axis, "axis", minimum=None)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{name}: axis {axis} is out of range for a result with {ndim} axes")
    return axis % ndim


def _tensors(tensors, name: str) -> list[Tensor]:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ShapeError(f"{name}: expected at least one tensor, got none")
    return ts
