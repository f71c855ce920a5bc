"""Normalization: fused batch norm and layer norm, each one Function with a closed-form backward.

Both normalize ``x_hat = (x - mean) / sqrt(var + eps)`` and then scale and shift,
``y = gamma * x_hat + beta``; they differ only in the axes the statistics are taken over.
Writing ``g = gy * gamma`` and ``<.>`` for the mean over those m values, the gradient of the
whole normalization is

    dx = inv_std * (g - <g> - x_hat * <g * x_hat>)

(the two subtracted terms are the paths through the mean and through the variance). The
memo is x_hat and inv_std: backward never needs x itself.

Variances are two-pass (centre first, then average the squares): the one-pass
E[x^2] - E[x]^2 loses every digit when the mean is large next to the spread.
"""

from __future__ import annotations

import numbers
from typing import Any

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..errors import ConfigError, ShapeError


def _inputs(x: Tensor, gamma, beta) -> tuple[list[Tensor], bool, bool]:
    inputs = [x]
    if gamma is not None:
        inputs.append(as_tensor(gamma, like=x))
    if beta is not None:
        inputs.append(as_tensor(beta, like=x))
    return inputs, gamma is not None, beta is not None


def _params(fn: Function, params: tuple) -> tuple:
    """(gamma, beta) from the inputs after x, each None when it was not given."""
    it = iter(params)
    gamma = next(it) if fn.has_gamma else None
    beta = next(it) if fn.has_beta else None
    return gamma, beta


def _save_normalized(fn, x_hat, inv_std, gamma) -> None:
    """What a normalization's backward reads: x_hat for the gamma and x gradients, 1/std and
    gamma for the x gradient only (never x itself)."""
    if any(fn.needs):
        need_x = fn.needs[0]
        need_gamma = fn.has_gamma and fn.needs[1]
        fn.save(
            x_hat if need_x or need_gamma else None,
            inv_std if need_x else None,
            gamma if need_x else None,
        )


def _scale_shift(x_hat, gamma, beta, bshape):
    """gamma * x_hat + beta, the parameters reshaped to ``bshape`` (when given) to broadcast."""
    if gamma is None:
        if beta is None:
            return x_hat
        return x_hat + (beta if bshape is None else beta.reshape(bshape))
    y = x_hat * (gamma if bshape is None else gamma.reshape(bshape))
    if beta is not None:
        y += beta if bshape is None else beta.reshape(bshape)  # y is fresh: add in place
    return y


def _affine_grads(needs, has_gamma: bool, has_beta: bool, g_gamma, g_beta) -> list:
    """The gradients of gamma and beta (those present), each only where it is needed."""
    out = []
    k = 1
    if has_gamma:
        out.append(g_gamma() if needs[k] else None)
        k += 1
    if has_beta:
        out.append(g_beta() if needs[k] else None)
    return out


class BatchNorm(Function):
    """Training-mode batch norm over every axis but 1 (the channels) with batch statistics.

    Inputs: x (N, C, ...), then gamma (C,) and beta (C,) when given. The running statistics
    (arrays, updated in place) travel as ``running`` and are dropped once forward has used them.
    """

    __slots__ = ("eps", "momentum", "running", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = _params(self, params)
        xp = xp_of(x)
        axes = self.axes
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        m = x.size // x.shape[1]
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        x_hat = centred * inv_std
        if self.running is not None:
            running_mean, running_var = self.running
            self.running = None
            mom = self.momentum
            # PyTorch's convention: normalize with the biased variance, but track the unbiased
            # one (m / (m - 1)), the estimate of the population variance.
            running_mean *= 1.0 - mom
            running_mean += mom * mean.reshape(-1)
            running_var *= 1.0 - mom
            running_var += (mom * m / (m - 1)) * var.reshape(-1)
        y = _scale_shift(x_hat, gamma, beta, bshape)
        _save_normalized(self, x_hat, inv_std, gamma)
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
        rest = _affine_grads(
            self.needs,
            self.has_gamma,
            self.has_beta,
            lambda: sum_gy_xhat.reshape(-1),
            lambda: sum_gy.reshape(-1),
        )
        return (gx, *rest)


class BatchNormEval(Function):
    """Eval-mode batch norm: an affine map per channel with the running statistics (constants).

    y = (x - running_mean) * inv_std * gamma + beta, inv_std = 1 / sqrt(running_var + eps).
    """

    __slots__ = ("eps", "running", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = _params(self, params)
        xp = xp_of(x)
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        running_mean, running_var = (a.astype(x.dtype, copy=False) for a in self.running)
        self.running = None
        inv_std = (1.0 / xp.sqrt(running_var + self.eps)).reshape(bshape)
        x_hat = (x - running_mean.reshape(bshape)) * inv_std
        y = _scale_shift(x_hat, gamma, beta, bshape)
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
        rest = _affine_grads(
            self.needs,
            self.has_gamma,
            self.has_beta,
            lambda: (gy * x_hat).sum(axis=axes),
            lambda: gy.sum(axis=axes),
        )
        return (gx, *rest)


class LayerNorm(Function):
    """Layer norm over the trailing ``len(normalized_shape)`` axes; gamma and beta have the
    normalized shape. Statistics are per sample, so training and eval are the same."""

    __slots__ = ("eps", "has_gamma", "has_beta", "axes")

    def forward(self, x, *params):
        gamma, beta = _params(self, params)
        xp = xp_of(x)
        axes = self.axes
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=axes, keepdims=True)
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        x_hat = centred * inv_std
        y = _scale_shift(x_hat, gamma, beta, None)
        _save_normalized(self, x_hat, inv_std, gamma)
        return y

    def backward(self, gy):
        x_hat, inv_std, gamma = self.saved
        axes = self.axes
        k = len(axes)
        lead = tuple(range(gy.ndim - k))  # the axes gamma and beta are shared over
        gx = None
        if self.needs[0]:
            g = gy if gamma is None else gy * gamma
            mean_g = g.mean(axis=axes, keepdims=True)
            mean_gx = (g * x_hat).mean(axis=axes, keepdims=True)
            gx = inv_std * (g - mean_g - x_hat * mean_gx)
        rest = _affine_grads(
            self.needs,
            self.has_gamma,
            self.has_beta,
            lambda: (gy * x_hat).sum(axis=lead),
            lambda: gy.sum(axis=lead),
        )
        return (gx, *rest)


# --- the functions ------------------------------------------------------------------------------


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ConfigError(f"eps: expected a positive number, got {eps!r}")
    return float(eps)


def _array(value: Any, name: str, shape: tuple[int, ...], x: Tensor):
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


def _check_affine(value: Any, name: str, shape: tuple[int, ...]) -> None:
    if value is not None and tuple(getattr(value, "shape", ())) != shape:
        got = getattr(value, "shape", type(value).__name__)
        raise ShapeError(f"{name}: expected shape {shape}, got {got}")


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
    _check_affine(gamma, "gamma", (c,))
    _check_affine(beta, "beta", (c,))
    eps = _check_eps(eps)
    rm = _array(running_mean, "running_mean", (c,), x)
    rv = _array(running_var, "running_var", (c,), x)
    if (rm is None) != (rv is None):
        raise ConfigError("running_mean, running_var: give both or neither")
    axes = (0,) + tuple(range(2, x.ndim))
    inputs, has_gamma, has_beta = _inputs(x, gamma, beta)
    attrs = {"eps": eps, "has_gamma": has_gamma, "has_beta": has_beta, "axes": axes}
    if not training:
        if rm is None:
            raise ConfigError(
                "running_mean, running_var: needed when training=False (eval mode normalizes "
                "with them)"
            )
        return BatchNormEval.apply(*inputs, running=(rm, rv), **attrs)
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, numbers.Real)
        or not 0.0 <= momentum <= 1.0
    ):
        raise ConfigError(f"momentum: expected a number in [0, 1], got {momentum!r}")
    if x.size // max(c, 1) <= 1:
        raise ShapeError(
            f"batch_norm: expected more than 1 value per channel when training, got input of "
            f"shape {x.shape}"
        )
    running = None if rm is None else (rm, rv)
    return BatchNorm.apply(*inputs, running=running, momentum=float(momentum), **attrs)


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
    shape = normalized_shape
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else ()
    if not shape or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape
    ):
        raise ConfigError(
            f"normalized_shape: expected a positive integer or a non-empty tuple of them, got "
            f"{normalized_shape!r}"
        )
    shape = tuple(int(n) for n in shape)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ShapeError(
            f"layer_norm: x must end in the normalized shape {shape}, got shape {x.shape}"
        )
    _check_affine(gamma, "gamma", shape)
    _check_affine(beta, "beta", shape)
    eps = _check_eps(eps)
    inputs, has_gamma, has_beta = _inputs(x, gamma, beta)
    axes = tuple(range(x.ndim - k, x.ndim))
    return LayerNorm.apply(*inputs, eps=eps, has_gamma=has_gamma, has_beta=has_beta, axes=axes)
