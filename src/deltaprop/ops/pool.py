"""Pooling over windows of images x (N, C, H, W): max, average, and global average.

Both windowed pools run as one elementwise op per kernel tap (kH kW ops on output-sized
strided views), never as a copy of every window. Max pool keeps, per output, the index of the
tap that won (one byte each for kernels up to 16x16), and backward sends each gradient to that
tap; ties go to the first tap in row order, as in PyTorch. Average pool keeps nothing.
Padding is -inf for max pool and zeros for average pool (counted in the average, PyTorch's
``count_include_pad=True``); as in PyTorch it may be at most half the kernel.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_pair
from ..errors import ConfigError, ShapeError
from . import window
from .reduce import mean


def _channels_major(x) -> bool:
    """Whether x's memory is (C, N, ...) ordered, as a convolution's output is: gradients are
    then built in that layout too, so no op downstream has to transpose them."""
    return x.shape[0] > 1 and x.shape[1] > 1 and x.strides[1] > x.strides[0]


def _in_layout(g, channels_major: bool):
    """g in the memory order of the forward pass (one copy of an output-sized array when it
    differs): NumPy's elementwise ops are several times slower on operands of mixed orders."""
    if _channels_major(g) == channels_major:
        return g
    if channels_major:
        return g.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
    return g.copy()


class MaxPool2d(Function):
    """Max over each window of x (N, C, H, W); the memo is the winning tap per output."""

    __slots__ = ("plan", "x_shape", "cm")

    def forward(self, x):
        p = self.plan
        self.x_shape, self.cm = x.shape, _channels_major(x)
        xp = xp_of(x)
        buf = window.padded(x, p, fill=-math.inf)
        record = self.needs[0]
        out = idx = tmp = None
        for k, i, j in window.taps(p):
            s = window.tap(buf, p, i, j)
            if out is None:
                out = s.copy(order="K")
                continue
            if record:
                # The tap is read twice (compare, maximum): from a contiguous copy, since NumPy
                # reads a strided view several times slower (one strided read instead of two:
                # -35% on 2x2 pools of 28x28 planes).
                if tmp is None:
                    tmp = xp.empty_like(out)
                xp.copyto(tmp, s)
                s = tmp
                # Strictly greater: the first of equal values keeps the gradient (PyTorch).
                wins = s > out
                if idx is None:
                    # After tap 1 the index is wins itself (0 or 1): no zeros, no arithmetic.
                    # (wins has out's memory order: mixed layouts slow every op below.)
                    dtype = _index_dtype(p)
                    idx = wins.view(dtype) if dtype == np.uint8 else wins.astype(dtype)
                else:
                    # Where tap k wins, k exceeds every index so far, so the update is a
                    # maximum: idx = max(idx, k * wins), 5x cheaper than copyto(where=wins).
                    xp.maximum(idx, xp.multiply(wins, k, dtype=idx.dtype), out=idx)
            xp.maximum(out, s, out=out)  # maximum, not the mask: NaN propagates
        if record and idx is None:  # a 1x1 kernel: the only tap wins
            idx = xp.zeros_like(out, dtype=_index_dtype(p))
        self.save(idx)
        return out

    def backward(self, gy):
        (idx,) = self.saved
        p = self.plan
        xp = xp_of(gy)
        gy = _in_layout(gy, self.cm)
        buf = window.gradient_buffer(self.x_shape, p, gy.dtype, xp, channels_major=self.cm)
        add = window.overlapping(p)
        for k, i, j in window.taps(p):
            target = window.tap(buf, p, i, j)
            if add:
                target += gy * (idx == k)
            else:  # each input position is in one window at most: write, no read
                xp.multiply(gy, idx == k, out=target)
        return window.unpad(buf, p)


def _index_dtype(p: window.Plan):
    return np.uint8 if p.kernel[0] * p.kernel[1] <= 256 else np.int32


class AvgPool2d(Function):
    """Mean over each window of x (N, C, H, W), zero padding counted; nothing to remember."""

    __slots__ = ("plan", "x_shape", "cm")

    def forward(self, x):
        p = self.plan
        self.x_shape, self.cm = x.shape, _channels_major(x)
        buf = window.padded(x, p)
        out = None
        for _, i, j in window.taps(p):
            s = window.tap(buf, p, i, j)
            if out is None:
                out = s.copy(order="K")
            else:
                out += s
        out *= 1.0 / (p.kernel[0] * p.kernel[1])
        return out

    def backward(self, gy):
        p = self.plan
        xp = xp_of(gy)
        g = _in_layout(gy, self.cm) * (1.0 / (p.kernel[0] * p.kernel[1]))
        buf = window.gradient_buffer(self.x_shape, p, gy.dtype, xp, channels_major=self.cm)
        add = window.overlapping(p)
        for _, i, j in window.taps(p):
            target = window.tap(buf, p, i, j)
            if add:
                target += g
            else:
                target[...] = g
        return window.unpad(buf, p)


def check_pool_args(kernel_size, stride, padding) -> tuple[tuple[int, int], ...]:
    """(kernel, stride, padding) as checked pairs; stride None is the kernel size. ConfigError
    for values < 1 (padding < 0) and for padding over half the kernel (PyTorch's limit: a
    window of padding only would have no input in it)."""
    kernel = check_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else check_pair(stride, "stride")
    padding = check_pair(padding, "padding", minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ConfigError(
            f"padding: expected at most half the kernel ({kernel[0] // 2},{kernel[1] // 2} for "
            f"a {kernel[0]}x{kernel[1]} kernel), got {padding[0]},{padding[1]}"
        )
    return kernel, stride, padding


def _pool_plan(x: Tensor, kernel_size, stride, padding, who: str) -> window.Plan:
    kernel, stride, padding = check_pool_args(kernel_size, stride, padding)
    _check_image(x, who)
    return window.plan(x.shape[2:], kernel, stride, padding, (1, 1), who, wide=False)


def _check_image(x: Tensor, who: str) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{who}: expected input (N, C, H, W), got {x.shape}")


def max_pool2d(x, kernel_size, stride=None, padding=0, *, who: str = "max_pool2d") -> Tensor:
    """Max pooling of x (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 p_h - kH) // s_h + 1.

    ``kernel_size``, ``stride`` (the kernel size when None) and ``padding`` (-inf, at most half
    the kernel) are an int or an (h, w) pair. ``who`` names the caller in error messages.
    """
    x = as_tensor(x)
    return MaxPool2d.apply(x, plan=_pool_plan(x, kernel_size, stride, padding, who))


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, who: str = "avg_pool2d") -> Tensor:
    """Average pooling of x (N, C, H, W) -> (N, C, OH, OW); zero padding (at most half the
    kernel) counts in the average. Arguments as :func:`max_pool2d`."""
    x = as_tensor(x)
    return AvgPool2d.apply(x, plan=_pool_plan(x, kernel_size, stride, padding, who))


def adaptive_avg_pool2d(x, output_size=1, *, who: str = "adaptive_avg_pool2d") -> Tensor:
    """Global average pooling: x (N, C, H, W) -> (N, C, 1, 1), the mean of each plane.

    Only ``output_size`` 1 (or (1, 1)) is supported; it is PyTorch's AdaptiveAvgPool2d(1)."""
    if check_pair(output_size, "output_size") != (1, 1):
        raise ConfigError(
            f"output_size: only 1 (global average pooling) is supported, got {output_size!r}"
        )
    x = as_tensor(x)
    _check_image(x, who)
    return mean(x, axis=(2, 3), keepdims=True)
