"""Layer norm: one fused Function, statistics per sample over the trailing axes. The shared
math is in :mod:`deltaprop.ops.norm_common`."""

from __future__ import annotations

import numbers

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
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
)


class LayerNorm(Function):
    """Layer norm over the trailing ``len(normalized_shape)`` axes; gamma and beta have the
    normalized shape. Statistics are per sample, so training and eval are the same."""

    __slots__ = ("eps", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = affine_params(self, params)
        x_hat, inv_std, _, _ = standardize(x, self.axes, self.eps)
        y = scale_shift(x_hat, gamma, beta, None)
        save_normalized(self, x_hat, inv_std, gamma)
        return y

    def backward(self, gy):
        x_hat, inv_std, gamma = self.saved
        axes = self.axes
        lead = tuple(range(gy.ndim - len(axes)))  # the axes gamma and beta are shared over
        gx = None
        if self.needs[0]:
            g = gy if gamma is None else gy * gamma
            mean_g = g.mean(axis=axes, keepdims=True)
            mean_gx = (g * x_hat).mean(axis=axes, keepdims=True)
            gx = inv_std * (g - mean_g - x_hat * mean_gx)
        rest = affine_grads(self, lambda: (gy * x_hat).sum(axis=lead), lambda: gy.sum(axis=lead))
        return (gx, *rest)


def _normalized_shape(value) -> tuple[int, ...]:
    """An int or a non-empty tuple/list of positive ints, as a tuple of ints."""
    shape = (value,) if isinstance(value, numbers.Integral) else value
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else ()
    if not shape or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape
    ):
        raise ConfigError(
            f"normalized_shape: expected a positive integer or a non-empty tuple of them, got "
            f"{value!r}"
        )
    return tuple(int(n) for n in shape)


def layer_norm(
    x,
    normalized_shape,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization over the trailing axes given by ``normalized_shape`` (an int or a
    tuple): each sample is normalized by its own mean and biased variance, then scaled by
    ``gamma`` and shifted by ``beta`` (both of shape ``normalized_shape``, or None)."""
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=gamma if isinstance(gamma, Tensor) else None)
    shape = _normalized_shape(normalized_shape)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ShapeError(
            f"layer_norm: x must end in the normalized shape {shape}, got shape {x.shape}"
        )
    check_affine(gamma, "gamma", shape)
    check_affine(beta, "beta", shape)
    eps = check_eps(eps)
    inputs, has_gamma, has_beta = inputs_of(x, gamma, beta)
    axes = tuple(range(x.ndim - k, x.ndim))
    return LayerNorm.apply(*inputs, eps=eps, has_gamma=has_gamma, has_beta=has_beta, axes=axes)
