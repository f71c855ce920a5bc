"""Batch norm: one fused Function for training (batch statistics, running statistics updated
in place) and one for eval (the running statistics as constants). The shared math is in
:mod:`deltaprop.ops.norm_common`."""

from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_real
from ..errors import ConfigError, ShapeError
from .norm_common import (
    affine_grads,
    affine_params,
    check_affine,
    check_eps,
    inputs_of,
    save_normalized,
    scale_shift,
    standardize,
    update_running,
)


class BatchNorm(Function):
    """Training-mode batch norm over every axis but 1 (the channels) with batch statistics.

    Inputs: x (N, C, ...), then gamma (C,) and beta (C,) when given. The running statistics
    (arrays, updated in place) travel as ``running`` and are dropped once forward has used them.
    """

    __slots__ = ("eps", "momentum", "running", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = affine_params(self, params)
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        m = x.size // x.shape[1]
        x_hat, inv_std, mean, var = standardize(x, self.axes, self.eps)
        if self.running is not None:
            running_mean, running_var = self.running
            self.running = None
            update_running(
                running_mean, running_var, mean.reshape(-1), var.reshape(-1), self.momentum, m
            )
        y = scale_shift(x_hat, gamma, beta, bshape)
        save_normalized(self, x_hat, inv_std, gamma)
        return y

    def backward(self, gy):
        x_hat, inv_std, gamma = self.saved
        axes = self.axes
        bshape = (1, gy.shape[1]) + (1,) * (gy.ndim - 2)
        m = gy.size // gy.shape[1]
        sum_gy = gy.sum(axis=axes, keepdims=True)
        sum_gy_xhat = (gy * x_hat).sum(axis=axes, keepdims=True) if x_hat is not None else None
        gx = None
        if self.needs[0]:
            # gamma is one number per channel, so <g> and <g x_hat> factor it out: the whole
            # gradient costs one full-size product (gy * x_hat) beyond the output itself.
            scale = inv_std if gamma is None else inv_std * gamma.reshape(bshape)
            gx = scale * (gy - sum_gy / m - x_hat * (sum_gy_xhat / m))
        rest = affine_grads(self, lambda: sum_gy_xhat.reshape(-1), lambda: sum_gy.reshape(-1))
        return (gx, *rest)


class BatchNormEval(Function):
    """Eval-mode batch norm: an affine map per channel with the running statistics (constants).

    y = (x - running_mean) * inv_std * gamma + beta, inv_std = 1 / sqrt(running_var + eps).
    """

    __slots__ = ("eps", "running", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = affine_params(self, params)
        xp = xp_of(x)
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        running_mean, running_var = (a.astype(x.dtype, copy=False) for a in self.running)
        self.running = None
        inv_std = (1.0 / xp.sqrt(running_var + self.eps)).reshape(bshape)
        x_hat = (x - running_mean.reshape(bshape)) * inv_std
        y = scale_shift(x_hat, gamma, beta, bshape)
        if any(self.needs):
            need_gamma = self.has_gamma and self.needs[1]
            scale = None
            if self.needs[0]:
                scale = inv_std if gamma is None else inv_std * gamma.reshape(bshape)
            self.save(x_hat if need_gamma else None, scale)
        return y

    def backward(self, gy):
        x_hat, scale = self.saved
        axes = self.axes
        gx = gy * scale if self.needs[0] else None
        rest = affine_grads(self, lambda: (gy * x_hat).sum(axis=axes), lambda: gy.sum(axis=axes))
        return (gx, *rest)


def _running(value: Any, name: str, shape: tuple[int, ...], x: Tensor):
    """The array behind a running statistic (a Tensor or an array), checked for shape."""
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    xp = xp_of(x.data)
    if not isinstance(array, xp.ndarray):
        raise ConfigError(
            f"{name}: expected an array or Tensor on x's device, got {type(value).__name__}"
        )
    if array.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape} (one per channel), got {array.shape}")
    return array


def batch_norm(
    x,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    running_mean=None,
    running_var=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization of x (N, C) or (N, C, L, ...) over every axis but 1.

    Training: normalize with the batch mean and biased variance; if running statistics are
    given (arrays or Tensors of shape (C,)), update them in place, PyTorch's way::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    with m = N * L * ... values per channel (the running variance is the unbiased one).
    Eval (``training=False``): normalize with the running statistics, which are then required.
    ``gamma`` and ``beta`` (C,) scale and shift; leave them None for no affine part.

    Raises ShapeError for a training batch with one value per channel (its variance is 0/0).
    """
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=gamma if isinstance(gamma, Tensor) else None)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: x must be (N, C) or (N, C, L, ...), got shape {x.shape}")
    c = x.shape[1]
    check_affine(gamma, "gamma", (c,))
    check_affine(beta, "beta", (c,))
    eps = check_eps(eps)
    rm = _running(running_mean, "running_mean", (c,), x)
    rv = _running(running_var, "running_var", (c,), x)
    if (rm is None) != (rv is None):
        raise ConfigError("running_mean, running_var: give both or neither")
    axes = (0,) + tuple(range(2, x.ndim))
    inputs, has_gamma, has_beta = inputs_of(x, gamma, beta)
    attrs = {"eps": eps, "has_gamma": has_gamma, "has_beta": has_beta, "axes": axes}
    if not training:
        if rm is None:
            raise ConfigError(
                "running_mean, running_var: needed when training=False (eval mode normalizes "
                "with them)"
            )
        return BatchNormEval.apply(*inputs, running=(rm, rv), **attrs)
    if not (type(momentum) is float and 0.0 <= momentum <= 1.0):  # the usual float: no more
        momentum = check_real(momentum, "momentum", minimum=0.0, maximum=1.0)
    if x.size // max(c, 1) <= 1:
        raise ShapeError(
            f"batch_norm: expected more than 1 value per channel when training, got input of "
            f"shape {x.shape}"
        )
    running = None if rm is None else (rm, rv)
    return BatchNorm.apply(*inputs, running=running, momentum=momentum, **attrs)


def batch_norm2d(
    x,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    running_mean=None,
    running_var=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization of images x (N, C, H, W), per channel over (N, H, W): the same op as
    :func:`batch_norm` (same arguments, same math), for 4-D input only."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ShapeError(f"batch_norm2d: expected x of shape (N, C, H, W), got {shape}")
    return batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps)
