"""What batch norm and layer norm share: the math, the memo and the affine part.

Both normalize ``x_hat = (x - mean) / sqrt(var + eps)`` and then scale and shift,
``y = gamma * x_hat + beta``; they differ only in the axes the statistics are taken over.
Writing ``g = gy * gamma`` and ``<.>`` for the mean over those m values, the gradient of the
whole normalization is

    dx = inv_std * (g - <g> - x_hat * <g * x_hat>)

(the two subtracted terms are the paths through the mean and through the variance). The
memo is x_hat and inv_std: backward never needs x itself.

``gamma`` and ``beta`` are optional inputs of the Function: present ones follow x in the
inputs, and ``has_gamma`` / ``has_beta`` on the node say which came.
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_real
from ..errors import ShapeError


def standardize(x, axes: tuple[int, ...], eps: float):
    """(x_hat, inv_std, mean, biased var) over ``axes``, the statistics kept with size-1 axes.

    Variances are two-pass (centre first, then average the squares): the one-pass
    E[x^2] - E[x]^2 loses every digit when the mean is large next to the spread.
    """
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / xp_of(x).sqrt(var + eps)
    return centred * inv_std, inv_std, mean, var


def update_running(running_mean, running_var, mean, var, momentum: float, m: int) -> None:
    """Move the running statistics (C,) toward a batch's ``mean`` and biased ``var`` (C,),
    in place, PyTorch's way: normalize with the biased variance, but track the unbiased one
    (``m / (m - 1)``, m values a channel), the estimate of the population variance."""
    running_mean *= 1.0 - momentum
    running_mean += momentum * mean
    running_var *= 1.0 - momentum
    running_var += (momentum * m / (m - 1)) * var


def inputs_of(x: Tensor, gamma, beta) -> tuple[list[Tensor], bool, bool]:
    """The Function's inputs [x, gamma?, beta?] and whether gamma and beta are among them."""
    inputs = [x]
    if gamma is not None:
        inputs.append(as_tensor(gamma, like=x))
    if beta is not None:
        inputs.append(as_tensor(beta, like=x))
    return inputs, gamma is not None, beta is not None


def affine_params(fn: Function, params: tuple) -> tuple:
    """(gamma, beta) from the inputs after x, each None when it was not given."""
    it = iter(params)
    gamma = next(it) if fn.has_gamma else None
    beta = next(it) if fn.has_beta else None
    return gamma, beta


def save_normalized(fn: Function, x_hat, inv_std, gamma) -> None:
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


def scale_shift(x_hat, gamma, beta, bshape):
    """gamma * x_hat + beta, the parameters reshaped to ``bshape`` (when given) to broadcast."""
    if gamma is None:
        if beta is None:
            return x_hat
        return x_hat + (beta if bshape is None else beta.reshape(bshape))
    y = x_hat * (gamma if bshape is None else gamma.reshape(bshape))
    if beta is not None:
        y += beta if bshape is None else beta.reshape(bshape)  # y is fresh: add in place
    return y


def affine_grads(fn: Function, g_gamma, g_beta) -> list:
    """The gradients of gamma and beta (those present), each computed only where needed:
    ``g_gamma`` and ``g_beta`` are called, not passed, so unneeded ones cost nothing."""
    out = []
    k = 1
    if fn.has_gamma:
        out.append(g_gamma() if fn.needs[k] else None)
        k += 1
    if fn.has_beta:
        out.append(g_beta() if fn.needs[k] else None)
    return out


def check_affine(value: Any, name: str, shape: tuple[int, ...]) -> None:
    """gamma / beta, when given, must have the normalized ``shape``."""
    if value is not None and tuple(getattr(value, "shape", ())) != shape:
        got = getattr(value, "shape", type(value).__name__)
        raise ShapeError(f"{name}: expected shape {shape}, got {got}")


def check_eps(eps: Any) -> float:
    """eps > 0, finite. A plain positive float (every call from a layer) skips the full check:
    normalization runs on every training step."""
    if type(eps) is float and 0.0 < eps < math.inf:
        return eps
    return check_real(eps, "eps", strict=True)
