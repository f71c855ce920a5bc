"""Finite-difference gradient checks in float64.

The engine's gradient of ``L = sum(f(inputs) * v)`` for a random direction ``v`` is compared with
central differences ``(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`` for every element i of every
input. One random projection checks the whole Jacobian-vector product at the cost of one backward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..backend import to_numpy, xp_of
from ..config import no_grad
from ..errors import ConfigError, DeltapropError
from .tensor import Tensor


class GradcheckError(DeltapropError, AssertionError):
    """The engine's gradient and the finite-difference one disagree."""


def gradcheck_errors(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    seed: int = 0,
) -> list[float]:
    """Relative error per input that requires grad (``nan`` for those that do not).

    The error of input k is ``max_i |analytic_i - numeric_i| / max(max|analytic|, max|numeric|)``:
    relative to the largest entry of that gradient, so tiny entries are not judged on noise.
    """
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise ConfigError(f"inputs[{k}]: expected a Tensor, got {type(t).__name__}")
        if t.requires_grad and t.data.dtype != np.float64:
            raise ConfigError(
                f"inputs[{k}]: gradient checks need float64 tensors, got {t.data.dtype}"
            )
    rng = np.random.default_rng(seed)
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise ConfigError(f"fn: expected it to return a Tensor, got {type(out).__name__}")
    xp = xp_of(out.data)
    v = xp.asarray(rng.standard_normal(out.shape))
    out.backward(v)
    v_np = to_numpy(v)

    def projected() -> float:
        with no_grad():
            return float(np.sum(to_numpy(fn(*inputs).data) * v_np))

    errors = []
    for t in inputs:
        if not t.requires_grad:
            errors.append(float("nan"))
            continue
        analytic = np.zeros(t.shape) if t.grad is None else to_numpy(t.grad.data)
        numeric = _numeric_gradient(t, projected, eps)
        scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
        diff = np.abs(analytic - numeric).max(initial=0.0)
        errors.append(0.0 if scale == 0 else diff / scale)
    return errors


def _numeric_gradient(t: Tensor, projected: Callable[[], float], eps: float) -> np.ndarray:
    """Central differences of ``projected()`` in every element of ``t``.

    The elements are perturbed in a private copy that stands in for ``t.data`` meanwhile: in
    place in the caller's array, a read-only or self-overlapping one (a broadcast view) could not
    be perturbed one element at a time, and a copy made by ``reshape(-1)`` of a non-contiguous
    one (a transpose, a strided slice) would be perturbed without ``fn`` ever seeing it.
    """
    original = t.data
    work = original.copy(order="K")  # same layout, so fn meets the strides it met before
    numeric = np.zeros(t.shape)
    t.data = work
    try:
        for index in np.ndindex(*t.shape):
            centre = float(work[index])
            work[index] = centre + eps
            up = projected()
            work[index] = centre - eps
            down = projected()
            work[index] = centre
            numeric[index] = (up - down) / (2 * eps)
    finally:
        t.data = original
    return numeric


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    tol: float = 1e-6,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s gradients against central differences; raise GradcheckError if off.

    Args:
        fn: maps the input tensors to one output Tensor (any shape).
        inputs: float64 tensors; those with ``requires_grad=True`` are checked.
        eps: the finite-difference step.
        tol: the largest relative error accepted (see :func:`gradcheck_errors`).
    Returns:
        True when every checked gradient is within ``tol``.
    """
    errors = gradcheck_errors(fn, inputs, eps=eps, seed=seed)
    for k, err in enumerate(errors):
        if err == err and err > tol:  # err != err for inputs that were not checked
            raise GradcheckError(
                f"gradcheck: input {k} has relative error {err:.3e} (tolerance {tol:.1e})"
            )
    return True
