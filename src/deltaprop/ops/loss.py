"""Losses as fused Functions: each forward is numerically stable and each backward is the closed
form (softmax - onehot, sigmoid - target, ...), one node instead of a chain of small ones.

``reduction`` is "mean" (default), "sum" or "none" (one value per example), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_choice, check_real
from ..errors import DataError, ShapeError
from .loss_weighted import rows as _rows
from .loss_weighted import weighted_cross_entropy

REDUCTIONS = ("mean", "sum", "none")


def _reduce(values, reduction):
    # A full reduction gives a NumPy scalar; keep Tensor.data an array (0-D).
    if reduction == "none":
        return values
    xp = xp_of(values)
    total = np.add.reduce(values, axis=None) if xp is np else values.sum()
    if reduction == "mean":
        total = total / values.size
    return xp.asarray(total)


class SoftmaxCrossEntropy(Function):
    """-log softmax(logits)[target], logits (N, C), target int (N,) or probabilities (N, C).

    The log-sum-exp shift makes it exact for any logit size; the gradient is softmax - target.
    """

    __slots__ = ("reduction", "sparse")

    def forward(self, logits, target):
        xp = xp_of(logits)
        n = logits.shape[0]
        # This op runs on every training step; on NumPy the ufunc reductions skip the
        # Python wrappers of ndarray.max/.sum, which cost more than the math at small sizes.
        if xp is np:
            z = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
            e = np.exp(z)
            s = np.add.reduce(e, axis=1, keepdims=True)
        else:
            z = logits - logits.max(axis=1, keepdims=True)
            e = xp.exp(z)
            s = e.sum(axis=1, keepdims=True)
        log_s = xp.log(s)
        if self.sparse:
            picked = z[0, target[0]] if n == 1 else z[_rows(xp, n), target]
            values = log_s[:, 0] - picked
            if self.needs[0]:
                self.save(e / s, target)
        else:
            logp = z - log_s
            values = -(target * logp).sum(axis=1)
            self.save(e / s if self.needs[0] else None, target, logp if self.needs[1] else None)
        return _reduce(values, self.reduction)

    def backward(self, gy):
        if self.sparse:
            p, target = self.saved
            n = p.shape[0]
            g = p.copy()
            if n == 1:  # per-example SGD: a scalar index is ten times cheaper than a fancy one
                g[0, target[0]] -= 1  # softmax - onehot
            else:
                g[_rows(xp_of(p), n), target] -= 1
            if self.reduction == "mean" and type(gy) is np.ndarray:
                g *= float(gy) / n  # g is ours: scale in place, no temporary
                return g, None
            return _scaled(g, gy, n, self.reduction), None
        p, target, logp = self.saved
        n = target.shape[0]
        g_logits = g_target = None
        if p is not None:
            g_logits = _scaled(
                p * target.sum(axis=1, keepdims=True) - target, gy, n, self.reduction
            )
        if logp is not None:
            g_target = _scaled(-logp, gy, n, self.reduction)
        return g_logits, g_target


def _scaled(g, gy, n, reduction):
    """Multiply per-example gradient rows (N, ...) by the reduced loss's upstream gradient."""
    if reduction == "mean":
        return g * (gy / n)
    if reduction == "sum":
        return g * gy
    return g * gy.reshape(gy.shape + (1,) * (g.ndim - gy.ndim))


class NLL(Function):
    """-logp[target] for log-probabilities (N, C) and int targets (N,)."""

    __slots__ = ("reduction",)

    def forward(self, logp, target):
        xp = xp_of(logp)
        n = logp.shape[0]
        self.save(target, logp.shape)
        return _reduce(-logp[xp.arange(n), target], self.reduction)

    def backward(self, gy):
        target, shape = self.saved
        xp = xp_of(target)
        g = xp.zeros(shape, dtype=gy.dtype)
        g[xp.arange(shape[0]), target] = -1
        return _scaled(g, gy, shape[0], self.reduction), None


class BCEWithLogits(Function):
    """Binary cross-entropy on logits: max(x,0) - x t + log(1 + e^-|x|), stable for any x."""

    __slots__ = ("reduction",)

    def forward(self, x, t):
        xp = xp_of(x)
        values = xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))
        self.save(x, t)
        return _reduce(values, self.reduction)

    def backward(self, gy):
        x, t = self.saved
        xp = xp_of(x)
        n = x.size
        gx = gt = None
        if self.needs[0]:
            gx = _elementwise_scaled(0.5 * (1 + xp.tanh(0.5 * x)) - t, gy, n, self.reduction)
        if self.needs[1]:
            gt = _elementwise_scaled(-x, gy, n, self.reduction)
        return gx, gt


class MSE(Function):
    __slots__ = ("reduction",)

    def forward(self, p, t):
        d = p - t
        self.save(d)
        return _reduce(d * d, self.reduction)

    def backward(self, gy):
        (d,) = self.saved
        g = _elementwise_scaled(2 * d, gy, d.size, self.reduction)
        return (g if self.needs[0] else None), (-g if self.needs[1] else None)


class Huber(Function):
    """0.5 d^2 where |d| <= delta, delta (|d| - delta/2) beyond; the gradient is clip(d, ±delta)."""

    __slots__ = ("delta", "reduction")

    def forward(self, p, t):
        xp = xp_of(p)
        d = p - t
        a = xp.abs(d)
        values = xp.where(a <= self.delta, 0.5 * d * d, self.delta * (a - 0.5 * self.delta))
        self.save(d)
        return _reduce(values, self.reduction)

    def backward(self, gy):
        (d,) = self.saved
        g = xp_of(d).clip(d, -self.delta, self.delta)
        g = _elementwise_scaled(g, gy, d.size, self.reduction)
        return (g if self.needs[0] else None), (-g if self.needs[1] else None)


def _elementwise_scaled(g, gy, size, reduction):
    if reduction == "mean":
        return g * (gy / size)
    return g * gy  # "sum": scalar gy; "none": gy has g's shape


# --- functions -----------------------------------------------------------------------------


def _reduction(value: str) -> str:
    """The reduction ``value`` names. The exact names pass with one comparison (losses run on
    every training step); anything else is resolved or refused by :func:`check_choice`."""
    return value if value in REDUCTIONS else check_choice(value, REDUCTIONS, "reduction")


def cross_entropy(logits: Tensor, target, reduction: str = "mean", weight=None) -> Tensor:
    """Softmax cross-entropy from raw scores.

    Args:
        logits: (N, C) unnormalized scores.
        target: (N,) integer class labels in 0..C-1, or (N, C) class probabilities.
        weight: None, or (C,) per-class weights as in PyTorch (see
            :mod:`deltaprop.ops.loss_weighted`: "mean" over labels divides by sum w[y_i]).
    """
    reduction = _reduction(reduction)
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ShapeError(f"logits: expected shape (N, C), got {logits.shape}")
    if not isinstance(target, Tensor):
        target = Tensor._wrap(xp_of(logits.data).asarray(target))
    if target.dtype.kind == "f" and target.dtype != logits.dtype and not target.requires_grad:
        # probabilities take the logits' dtype directly (no float32 round trip, no upcast)
        target = Tensor._wrap(target.data.astype(logits.dtype))
    n, c = logits.shape
    if target.ndim == 1 and target.dtype.kind in "iu":
        if target.shape[0] != n:
            raise ShapeError(
                f"target: expected {n} labels (one per row of logits), got {target.shape[0]}"
            )
        check_labels(target, c)
        if weight is None:  # the unweighted op, called exactly as before weights existed
            return SoftmaxCrossEntropy.apply(logits, target, reduction=reduction, sparse=True)
        return weighted_cross_entropy(logits, target, reduction, weight, sparse=True)
    if target.shape != logits.shape:
        raise ShapeError(
            f"target: expected integer labels of shape ({n},) or probabilities of shape "
            f"{logits.shape}, got shape {target.shape} dtype {target.dtype}"
        )
    if weight is None:
        return SoftmaxCrossEntropy.apply(logits, target, reduction=reduction, sparse=False)
    return weighted_cross_entropy(logits, target, reduction, weight, sparse=False)


def check_labels(target: Tensor, c: int) -> None:
    """Labels must lie in 0..c-1 (a -1 would silently pick the last class)."""
    if target.dtype.kind not in "iu":
        raise DataError(f"target: expected integer class labels, got dtype {target.dtype}")
    if not target.size:
        return
    if target.size <= 16:  # cheaper in Python than two array reductions at batch size 1
        values = target.data.ravel().tolist()
        lo, hi = min(values), max(values)
    else:
        lo, hi = int(target.data.min()), int(target.data.max())
    if lo < 0 or hi >= c:
        raise DataError(f"target: expected class labels in 0..{c - 1}, got values in {lo}..{hi}")


def nll_loss(log_probs: Tensor, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer targets (N,) under log-probabilities (N, C)."""
    reduction = _reduction(reduction)
    target = target if isinstance(target, Tensor) else as_tensor(target)
    if log_probs.ndim != 2 or target.shape != (log_probs.shape[0],):
        raise ShapeError(
            f"nll_loss: expected log_probs (N, C) and target (N,), got {log_probs.shape} and "
            f"{target.shape}"
        )
    check_labels(target, log_probs.shape[1])
    return NLL.apply(log_probs, target, reduction=reduction)


def _same_shape(pred: Tensor, target, name: str) -> tuple[Tensor, Tensor]:
    pred = as_tensor(pred)
    target = as_tensor(target, like=pred)
    if target.dtype != pred.dtype and not target.requires_grad:
        target = Tensor._wrap(target.data.astype(pred.dtype))  # no silent float64 upcast
    if target.shape != pred.shape:
        raise ShapeError(
            f"{name}: target shape {target.shape} differs from input shape {pred.shape}"
        )
    return pred, target


def bce_with_logits(logits: Tensor, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of targets in [0, 1] given logits (any shape, same for both)."""
    reduction = _reduction(reduction)
    return BCEWithLogits.apply(*_same_shape(logits, target, "bce_with_logits"), reduction=reduction)


def mse_loss(pred: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    reduction = _reduction(reduction)
    return MSE.apply(*_same_shape(pred, target, "mse_loss"), reduction=reduction)


def huber_loss(pred: Tensor, target, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss: quadratic within ``delta``, linear beyond."""
    reduction = _reduction(reduction)
    delta = check_real(delta, "delta", strict=True)
    return Huber.apply(*_same_shape(pred, target, "huber_loss"), delta=delta, reduction=reduction)
