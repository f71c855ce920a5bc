"""Matrix products: general ``matmul`` and the fused ``linear`` (x @ W + b) of every dense layer."""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..errors import ShapeError


class MatMul(Function):
    """a @ b with NumPy's rules (1-D operands, batched stacks broadcast)."""

    __slots__ = ("a_vec", "b_vec")

    def forward(self, a, b):
        self.a_vec, self.b_vec = a.ndim == 1, b.ndim == 1
        self.save(a if self.needs[1] else None, b if self.needs[0] else None)
        return a @ b

    def backward(self, gy):
        a, b = self.saved
        a_vec, b_vec = self.a_vec, self.b_vec
        # Treat a 1-D a as one row and a 1-D b as one column, so one rule covers every case;
        # the engine then sums broadcast batch axes away.
        g = gy
        if a_vec and b_vec:
            g = gy.reshape(1, 1)
        elif a_vec:
            g = gy[..., None, :]
        elif b_vec:
            g = gy[..., None]
        ga = gb = None
        if self.needs[0]:
            ga = g @ (b[:, None] if b_vec else b).swapaxes(-1, -2)
            if a_vec:
                ga = ga[..., 0, :]
        if self.needs[1]:
            gb = (a[None, :] if a_vec else a).swapaxes(-1, -2) @ g
            if b_vec:
                gb = gb[..., 0]
        return ga, gb


#: Fewer rows than this never switch (:func:`dx_by_transpose`).
DX_MIN_ROWS = 8


def dx_by_transpose(n: int, k: int, m: int, dtype) -> bool:
    """Whether ``dx = g @ W.T`` (g (n, m), W (k, m)) is faster as ``(W @ g.T).T``, copied
    into rows: a float32 batch of 8 or more rows, at most an eighth of the layer's narrower
    side, which is 256 or wider.

    The two are the same sums (bit for bit in float32; in float64 the BLAS may order them
    differently, so float64, the gradient checks' dtype, never switches). OpenBLAS (NumPy's
    wheels, one thread) runs the second form's kernel much faster for a short g: the product
    and the copy take 0.4-0.8x the time of the first at 8-64 rows on layers 256-1024 wide,
    and 0.86-0.91x at 128 rows of a 1024x1024 layer (a rank's shard in benchmarks/dist.py); past
    an eighth of the width, or on a narrower layer, it is no faster (1.0-2.2x). Measured with
    timeit on the 2-core VM of BENCHMARKS.md. Every dense layer's backward (eager and
    compiled) asks this one rule, so the two stay bit-identical.
    """
    # rows first: the cheapest test, and the one that settles batch size 1's hot path
    return n >= DX_MIN_ROWS and 8 * n <= min(k, m) and min(k, m) >= 256 and dtype == np.float32


class Linear(Function):
    """y = x @ W + b with x (..., in), W (in, out), b (out,).

    Fused: one node instead of three, and the gradient of the data batch x is skipped when x
    does not need one (the first layer).
    """

    __slots__ = ()

    def forward(self, x, w, b=None):
        need_x, need_w = self.needs[0], self.needs[1]
        self.save(x if need_w else None, w if need_x else None)
        # For 2-D operands .dot is matmul with less dispatch: about half the time of `@` for
        # small matrices (batch size 1), the same BLAS call for large ones.
        y = x.dot(w) if x.ndim == 2 else x @ w
        if b is not None:
            y += b  # y is fresh from the product: adding in place saves an allocation
        return y

    def backward(self, gy):
        x, w = self.saved
        needs = self.needs
        g2 = gy if gy.ndim == 2 else gy.reshape(-1, gy.shape[-1])
        gx = gw = gb = None
        if needs[0]:
            if gy.ndim != 2:
                gx = gy @ w.T
            elif (
                gy.shape[0] >= DX_MIN_ROWS  # (batch size 1 pays this test alone)
                and type(gy) is np.ndarray
                and dx_by_transpose(gy.shape[0], *w.shape, gy.dtype)
            ):
                gx = np.ascontiguousarray(w.dot(gy.T).T)
            else:
                gx = gy.dot(w.T)
        if x is not None:
            x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
            gw = x2.T.dot(g2)
        if len(needs) > 2 and needs[2]:
            # np.add.reduce skips ndarray.sum's Python wrapper (it shows at batch size 1)
            gb = np.add.reduce(g2, axis=0) if type(g2) is np.ndarray else g2.sum(axis=0)
        return gx, gw, gb


def matmul(a, b) -> Tensor:
    """a @ b (NumPy semantics: vectors, matrices and stacks of matrices)."""
    a = as_tensor(a) if not isinstance(a, Tensor) else a
    b = as_tensor(b, like=a)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: operands must have at least one dimension (use * for scalars)")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")
    return MatMul.apply(a, b)


def linear(x, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight + bias for x (..., in_features), weight (in_features, out_features)."""
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=weight)
    shape = x.data.shape  # .data, not the properties: this runs for every layer, every step
    if not shape or shape[-1] != weight.data.shape[0]:
        raise ShapeError(
            f"linear: x must end in {weight.data.shape[0]} features (the layer's input size), "
            f"got shape {shape}"
        )
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
