"""Batch norm in lanes: each lane normalizes its rows with the *whole batch's* statistics.

In training, batch norm's mean and variance are over the batch, which lanes split
(:mod:`deltaprop.compile.lanes`). So each lane computes its per-channel sums, and the lanes
exchange them (:class:`Exchange`: a barrier, then every lane adds the lanes' parts in lane
order, so all get the same bits) before normalizing; the backward's two sums (of ``dy`` and
of ``dy * x_hat``) are exchanged the same way. The arithmetic is eager's
(:class:`deltaprop.ops.norm_batch.BatchNorm`) with each mean taken as the sum of the lanes'
sums over the batch's count::

    mean = sum_lanes(sum x) / m;  var = sum_lanes(sum (x - mean)^2) / m      (two-pass)
    dx = inv_std * gamma * (dy - sum(dy) / m - x_hat * sum(dy x_hat) / m)   (sums: all lanes)

gamma's and beta's gradients are each lane's own sums, which the lanes' gradient sum adds up.
Lane 0 alone updates the layer's running statistics and batch count, as the layer's forward
does once per batch.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..ops.norm_common import update_running
from .kernel import Kernel


class Exchange:
    """Per-channel sums of every lane, added in lane order, the same array on every lane.

    Two slots, used in turn: a lane writes exchange k's part into slot k % 2 only after
    exchange k - 1's barrier, which no lane passes before every lane has read exchange k - 2
    (the same slot): one barrier an exchange suffices.
    """

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes
        self.barrier = threading.Barrier(lanes)
        self.slots: list[list[Any]] = [[None] * lanes, [None] * lanes]

    def sum(self, lane: int, turn: int, part: np.ndarray) -> np.ndarray:
        """The lanes' ``part`` summed in lane order (waits for every lane)."""
        slot = self.slots[turn % 2]
        slot[lane] = part
        self.barrier.wait()
        total = slot[0] + slot[1]
        for other in slot[2:]:
            total = total + other
        return total

    def reset(self) -> None:
        """After a lane failed mid-step (the barrier was aborted): ready for the next step."""
        self.barrier.reset()


class LaneBatchNormKernel(Kernel):
    """Training batch norm of one lane (see the module doc); ``module``: the layer whose
    running statistics it updates (None: it has none); ``exchange``, ``lane`` and ``rows``
    (the whole batch's) are set by the :class:`~deltaprop.compile.lanes.LaneSet`."""

    op = "BatchNorm"

    def __init__(self, fn: Any, inputs, out, module: Any | None) -> None:
        self.fn = fn
        self.inputs, self.out = list(inputs), out
        self.needs = tuple(fn.needs)
        self.owned = (True,) + (False,) * (len(self.inputs) - 1)
        self.module = module
        self.has_gamma, self.has_beta = fn.has_gamma, fn.has_beta
        self.eps, self.axes = fn.eps, fn.axes
        self.exchange: Exchange | None = None
        self.lane, self.rows, self.turn = 0, 0, 0
        self.saved: tuple = ()

    def _sum(self, part: np.ndarray) -> np.ndarray:
        self.turn += 1
        return self.exchange.sum(self.lane, self.turn, part)

    def forward(self, vals: list) -> None:
        x = vals[self.inputs[0]]
        rest = iter(self.inputs[1:])
        gamma = vals[next(rest)] if self.has_gamma else None
        beta = vals[next(rest)] if self.has_beta else None
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        m = self.rows * (x.size // (x.shape[0] * x.shape[1]))  # the batch's values a channel
        mean = self._sum(x.sum(axis=self.axes)) / x.dtype.type(m)
        centred = x - mean.reshape(bshape)
        var = self._sum((centred * centred).sum(axis=self.axes)) / x.dtype.type(m)
        inv_std = 1.0 / np.sqrt(var.reshape(bshape) + self.eps)
        x_hat = centred * inv_std
        if self.lane == 0:
            self._update_running(mean, var, m)
        y = x_hat
        if gamma is not None:
            y = x_hat * gamma.reshape(bshape)
        if beta is not None:
            y = y + beta.reshape(bshape)
        self.saved = (x_hat, inv_std, gamma, m)
        vals[self.out] = y

    def _update_running(self, mean, var, m: int) -> None:
        """The layer's batch count and running statistics, as its forward and the eager op
        update them once a batch (lane 0 alone calls this)."""
        layer = self.module
        if layer is not None:  # (None: no running statistics to update)
            momentum = layer.count_batch()
            rm, rv = layer.running_mean.data, layer.running_var.data
            update_running(rm, rv, mean, var, momentum, m)

    def backward(self, vals: list, gy: Any, may_write: bool) -> tuple:
        x_hat, inv_std, gamma, m = self.saved
        axes = self.axes
        bshape = (1, gy.shape[1]) + (1,) * (gy.ndim - 2)
        own_gy = gy.sum(axis=axes)
        own_gy_xhat = (gy * x_hat).sum(axis=axes)
        sum_gy = self._sum(own_gy).reshape(bshape)
        sum_gy_xhat = self._sum(own_gy_xhat).reshape(bshape)
        gx = None
        if self.needs[0]:
            scale = inv_std if gamma is None else inv_std * gamma.reshape(bshape)
            gx = scale * (gy - sum_gy / m - x_hat * (sum_gy_xhat / m))
        grads = [gx]
        k = 1
        if self.has_gamma:
            grads.append(own_gy_xhat if self.needs[k] else None)
            k += 1
        if self.has_beta:
            grads.append(own_gy if self.needs[k] else None)
        return tuple(grads)

    def text(self, name):
        fwd, bwd = super().text(name)
        return f"{fwd}  [the whole batch's statistics, exchanged between lanes]", bwd
