"""Gradient clipping, in place, between ``backward()`` and ``optimizer.step()``.

``clip_grad_norm`` returns the norm it saw before clipping, so logging it costs nothing (it is
the number the gradient-health diagnostics want). Both functions change ``p.grad.data`` in
place: the engine gives every parameter its own gradient array, so no other tensor sees it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..checks import check_bool, check_real
from ..errors import ConfigError, TrainingError

# PyTorch's guard against division by a zero norm; it also makes the clipped norm land a hair
# below max_norm rather than on it.
_NORM_EPS = 1e-6


def _grads(params: Any, name: str = "params") -> list:
    """The gradient arrays of ``params`` (a Tensor or an iterable of them); None grads skipped."""
    if isinstance(params, Tensor):
        params = [params]
    try:
        items = list(params)
    except TypeError:
        raise ConfigError(
            f"{name}: expected a Tensor or an iterable of Tensors (e.g. model.parameters()), got "
            f"{type(params).__name__}"
        ) from None
    grads = []
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise ConfigError(
                f"{name}[{i}]: expected a Parameter (Tensor), got {type(p).__name__}; pass "
                f"model.parameters()"
            )
        if p.grad is not None:
            grads.append(p.grad.data)
    return grads


def _norm_type(value: Any) -> float:
    """p of a p-norm: a number > 0, or ``inf`` / ``"inf"`` for the largest absolute entry."""
    if isinstance(value, str) and value.strip().lower() == "inf":
        return math.inf
    try:
        return check_real(value, "norm_type", strict=True, allow_inf=True)
    except ConfigError:
        raise ConfigError(f"norm_type: expected a number > 0 or 'inf', got {value!r}") from None


def _total_norm(grads: list, p: float) -> float:
    if not grads:
        return 0.0
    xp = backend.xp_of(grads[0])
    # One partial result per gradient, kept on the device, and a single transfer at the end.
    if p == math.inf:
        parts = [xp.abs(g).max() for g in grads]
        return float(xp.stack(parts).max())
    if p == 2.0:
        if xp is np:  # on the CPU Python floats are cheaper than stacking 0-D arrays
            return math.sqrt(sum([float(np.vdot(g, g)) for g in grads]))
        parts = [xp.vdot(g.ravel(), g.ravel()) for g in grads]  # BLAS dot: no temporary
        return float(xp.sqrt(xp.stack(parts).sum()))
    if p == 1.0:
        parts = [xp.abs(g).sum() for g in grads]
        return float(xp.stack(parts).sum())
    parts = [(xp.abs(g) ** p).sum() for g in grads]
    return float(xp.stack(parts).sum() ** (1.0 / p))


def clip_grad_norm(
    params: Iterable[Any] | Tensor,
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: with n the ``norm_type``-norm of every gradient
    taken as one vector, ::

        c = max_norm / (n + 1e-6);   g = g * c  for every gradient, when c < 1

    so the direction of the whole update is kept and only its length shrinks. Gradients are
    changed in place; parameters whose grad is None are skipped.

    Args:
        params: a Tensor or an iterable of Tensors, e.g. ``model.parameters()``.
        max_norm: the largest allowed norm, > 0 (``math.inf`` only measures the norm).
        norm_type: p of the p-norm (> 0), or ``inf`` / ``"inf"`` for the largest absolute entry.
        error_if_nonfinite: raise instead of clipping when the norm is NaN or infinite (a
            NaN norm otherwise leaves the gradients as they are; an infinite one zeroes the
            finite entries).

    Returns:
        The total norm before clipping, as a Python float (0.0 when no parameter has a grad).

    Raises:
        ConfigError: a bad ``max_norm`` or ``norm_type``, or params that are not Tensors.
        TrainingError: the norm is NaN or infinite and ``error_if_nonfinite`` is True (the
            gradients are left untouched).
    """
    # inf is allowed: clip_grad_norm(params, math.inf) only measures, as in PyTorch.
    max_norm = check_real(max_norm, "max_norm", strict=True, allow_inf=True)
    p = _norm_type(norm_type)
    check_bool(error_if_nonfinite, "error_if_nonfinite")
    grads = _grads(params)
    total = _total_norm(grads, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise TrainingError(
            f"clip_grad_norm: the total {norm_type}-norm of the gradients is {total}, so they "
            "cannot be clipped; look for a NaN/Inf loss or an exploding layer (or pass "
            "error_if_nonfinite=False to scale them anyway)"
        )
    coef = max_norm / (total + _NORM_EPS)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_grad_value(params: Iterable[Any] | Tensor, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    As ``torch.nn.utils.clip_grad_value_``. Unlike :func:`clip_grad_norm` this changes the
    direction of the update. Parameters whose grad is None are skipped.

    Raises:
        ConfigError: ``clip_value`` is not a positive number, or params are not Tensors.
    """
    c = check_real(clip_value, "clip_value", strict=True, allow_inf=True)
    for g in _grads(params):
        backend.xp_of(g).clip(g, -c, c, out=g)
