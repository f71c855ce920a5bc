"""Class-weighted softmax cross-entropy (PyTorch's ``weight=``) and the row-index cache that
both cross-entropies use. Kept apart from :mod:`deltaprop.ops.loss` so that the unweighted
op, which runs on every training step, keeps its code path unchanged.

Integer labels y (N,): row i's loss is w[y_i] * nll_i; "mean" divides the sum by sum_i w[y_i]
(PyTorch's rule, so the loss stays on the unweighted scale). Probabilities t (N, C): row i's
loss is -sum_c w_c t_c log p_c; "mean" divides by N (PyTorch's rule for soft targets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import to_numpy, xp_of
from ..errors import ConfigError, ShapeError

_ROWS: dict[int, np.ndarray] = {}


def rows(xp, n: int):
    """0..n-1 for picking each row's target; cached on NumPy, as the same few batch sizes
    repeat every step (the arange costs as much as the pick at batch size 1)."""
    if xp is not np:
        return xp.arange(n)
    r = _ROWS.get(n)
    if r is None:
        r = np.arange(n)
        r.flags.writeable = False
        if len(_ROWS) < 64:
            _ROWS[n] = r
    return r


def check_weight(weight: Any, name: str = "weight", n_classes: int | None = None) -> np.ndarray:
    """``weight`` as a float64 (C,) NumPy array: finite, >= 0, not all zero, and of length
    ``n_classes`` when that is given. A ShapeError or ConfigError naming ``name`` otherwise."""
    if isinstance(weight, Tensor):
        weight = weight.data
    try:
        w = np.asarray(to_numpy(weight), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected per-class weights (numbers), got {weight!r}") from exc
    if w.ndim != 1 or not w.size:
        raise ShapeError(f"{name}: expected a 1-D array of per-class weights, got shape {w.shape}")
    if n_classes is not None and w.shape[0] != n_classes:
        raise ShapeError(
            f"{name}: expected one weight per class ({n_classes}), got {w.shape[0]} weights"
        )
    if not np.isfinite(w).all():
        raise ConfigError(f"{name}: expected finite per-class weights, got {w.tolist()}")
    if (w < 0).any():
        raise ConfigError(f"{name}: expected per-class weights >= 0, got {w.tolist()}")
    if not (w > 0).any():
        raise ConfigError(f"{name}: expected at least one weight > 0, got all zeros")
    return w


class WeightedSoftmaxCrossEntropy(Function):
    """Softmax cross-entropy with per-class weights ``weight`` (C,) (no gradient for it).

    logits (N, C); target int (N,) when ``sparse``, else probabilities (N, C). The gradient
    is w[y_i] (softmax_i - onehot_i) for labels and (sum_c w_c t_c) softmax - w * t for
    probabilities, scaled by the reduction.
    """

    __slots__ = ("reduction", "sparse", "weight")

    def forward(self, logits, target):
        xp = xp_of(logits)
        n = logits.shape[0]
        w = xp.asarray(self.weight, dtype=logits.dtype)
        z = logits - logits.max(axis=1, keepdims=True)  # shifted: exact for any logit size
        e = xp.exp(z)
        s = e.sum(axis=1, keepdims=True)
        logp = z - xp.log(s)
        if self.sparse:
            r = rows(xp, n)
            w_rows = w[target]  # (N,)
            values = -w_rows * logp[r, target]
            denom = w_rows.sum() if self.reduction == "mean" else None
            self.save(e / s if self.needs[0] else None, target, w_rows, denom, None)
        else:
            wt = target * w  # (N, C)
            values = -(wt * logp).sum(axis=1)
            denom = n
            keep_logp = logp * w if self.needs[1] else None
            self.save(e / s if self.needs[0] else None, target, wt, denom, keep_logp)
        if self.reduction == "none":
            return values
        total = values.sum()
        if self.reduction == "mean":
            # sum w[y_i] may be 0 on a batch holding only zero-weight classes: nan, as PyTorch
            total = total / denom
        return xp.asarray(total)

    def backward(self, gy):
        p, target, w_part, denom, w_logp = self.saved
        xp = xp_of(gy)
        if self.reduction == "mean":
            scale = gy / denom
        elif self.reduction == "sum":
            scale = gy
        else:
            scale = gy.reshape(-1, 1)  # (N,) per-row upstream gradient
        g_logits = g_target = None
        if self.sparse:
            if p is not None:
                g = p.copy()
                g[rows(xp, p.shape[0]), target] -= 1  # softmax - onehot
                g_logits = g * w_part[:, None] * scale
            return g_logits, None
        if p is not None:
            g_logits = (p * w_part.sum(axis=1, keepdims=True) - w_part) * scale
        if w_logp is not None:
            g_target = -w_logp * scale
        return g_logits, g_target


def weighted_cross_entropy(
    logits: Tensor, target: Tensor, reduction: str, weight: Any, sparse: bool
) -> Tensor:
    """The weighted op on checked logits (N, C) and targets (labels (N,) when ``sparse``, else
    probabilities (N, C)); ``weight`` is checked here against C."""
    w = check_weight(weight, n_classes=logits.shape[1])
    return WeightedSoftmaxCrossEntropy.apply(
        logits, target, reduction=reduction, sparse=sparse, weight=w
    )
