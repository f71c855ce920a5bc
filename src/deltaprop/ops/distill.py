"""Knowledge distillation's loss (Hinton, Vinyals & Dean, 2015) as one fused Function.

For student logits s and teacher logits t (N, C), temperature T and weight alpha, per row::

    p = softmax(t / T),  q = softmax(s / T)                 soft targets, soft predictions
    soft = T^2 * KL(p || q) = T^2 * sum_c p_c (log p_c - log q_c)
    hard = -log softmax(s)[y]                               cross-entropy with the label y
    loss = alpha * soft + (1 - alpha) * hard

Why T^2: the soft term's gradient is (q - p) / T before the factor, and q - p itself shrinks
like 1/T for large T (both distributions flatten towards uniform), so without the factor the
teacher's pull would fade like 1/T^2 as T grows; with it the soft gradient stays of the same
size as the hard term's, so alpha means the same at every temperature. ``"mean"`` divides by
the rows (PyTorch's ``kl_div(..., reduction="batchmean")``, not by rows x classes).

The teacher's logits are a constant (it is fixed while the student learns): no gradient flows
to them. Both softmaxes use the log-sum-exp shift, so any logit size is exact; p log p is 0
where p underflows to 0 (written as p * (log p - log q), with log p finite).

Gradient, per row (times 1/N for "mean")::

    d loss / d s = alpha * T * (q - p) + (1 - alpha) * (softmax(s) - onehot(y))
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_fraction, check_real
from ..errors import ConfigError, ShapeError
from .loss import _reduce, _reduction, _scaled, check_labels


def _log_softmax(z, xp):
    z = z - z.max(axis=1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))


class DistillationLoss(Function):
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y), rows (N, C).

    Inputs: student logits (the only one with a gradient), and the labels (N,) when
    ``alpha < 1``; the teacher's logits are the attribute ``teacher`` (a constant array)."""

    __slots__ = ("teacher", "temperature", "alpha", "reduction")

    def forward(self, s, y=None):
        xp = xp_of(s)
        T, alpha = self.temperature, self.alpha
        log_q = _log_softmax(s / T, xp)
        log_p = _log_softmax(self.teacher / T, xp)
        p = xp.exp(log_p)
        values = (alpha * T * T) * (p * (log_p - log_q)).sum(axis=1)
        grad = None
        if self.needs[0]:
            grad = (alpha * T) * (xp.exp(log_q) - p)
        if alpha < 1.0:
            log_r = _log_softmax(s, xp)
            rows = xp.arange(s.shape[0])
            values = values - (1.0 - alpha) * log_r[rows, y]
            if grad is not None:
                hard = xp.exp(log_r)
                hard[rows, y] -= 1.0  # softmax - onehot
                grad += (1.0 - alpha) * hard
        # The per-row gradient is all backward needs: one (N, C) array, nothing else.
        self.save(grad)
        return _reduce(values, self.reduction)

    def backward(self, gy):
        (grad,) = self.saved
        return (_scaled(grad, gy, grad.shape[0], self.reduction),) + (None,) * (len(self.needs) - 1)


def distillation_loss(
    student: Tensor,
    teacher,
    target=None,
    temperature: float = 4.0,
    alpha: float = 0.5,
    reduction: str = "mean",
) -> Tensor:
    """The distillation loss of ``student`` logits against fixed ``teacher`` logits.

    Args:
        student: (N, C) logits of the model being trained.
        teacher: (N, C) logits of the teacher (array or Tensor; a constant: no gradient).
        target: (N,) integer labels in 0..C-1; may be None only when ``alpha == 1``.
        temperature: T > 0; above 1 it softens both distributions, so the student learns how
            the teacher ranks the wrong classes too.
        alpha: weight in [0, 1] of the soft (teacher) term; ``1 - alpha`` weighs the labels.
        reduction: "mean" (over rows), "sum" or "none" (one value per row).

    Returns:
        The loss: a 0-D Tensor, or (N,) with ``reduction="none"``.

    Raises:
        ConfigError: temperature <= 0, alpha outside [0, 1], no target with alpha < 1.
        ShapeError / DataError: shapes that do not match, labels outside 0..C-1.
    """
    reduction = _reduction(reduction)
    temperature = check_real(temperature, "temperature", strict=True)
    alpha = check_fraction(alpha, "alpha", closed_low=True, closed_high=True)
    student = as_tensor(student)
    if student.ndim != 2:
        raise ShapeError(f"student: expected logits of shape (N, C), got {student.shape}")
    t = teacher.data if isinstance(teacher, Tensor) else xp_of(student.data).asarray(teacher)
    if t.shape != student.shape:
        raise ShapeError(
            f"teacher: expected logits of the student's shape {student.shape}, got {t.shape}"
        )
    t = t.astype(student.dtype, copy=False)
    if target is None:
        if alpha < 1.0:
            raise ConfigError(
                f"target: the labels are needed when alpha < 1 (alpha={alpha:g} weighs them "
                "by 1 - alpha); give them, or alpha=1 for the teacher alone"
            )
        return DistillationLoss.apply(
            student, teacher=t, temperature=temperature, alpha=alpha, reduction=reduction
        )
    target = target if isinstance(target, Tensor) else Tensor._wrap(np.asarray(target))
    if target.ndim != 1 or target.shape[0] != student.shape[0]:
        raise ShapeError(
            f"target: expected {student.shape[0]} labels of shape ({student.shape[0]},), got "
            f"shape {target.shape}"
        )
    check_labels(target, student.shape[1])
    return DistillationLoss.apply(
        student, target, teacher=t, temperature=temperature, alpha=alpha, reduction=reduction
    )
