"""Loss modules and weight penalties. The math (stable forward, closed-form backward) lives in
:mod:`deltaprop.ops.loss`; these classes hold the options and say what kind of task they fit.

Every loss is called as ``loss_fn(prediction, target)``; the target may be a NumPy array or a
Tensor. ``reduction`` is "mean" (default), "sum" or "none" (one value per element/example).
``task`` is "classification" or "regression", so a Trainer can treat labels and metrics to match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_real
from ..errors import ConfigError
from ..ops.loss import REDUCTIONS
from ..ops.loss_weighted import check_weight
from .module import Module


class Loss(Module):
    """Base class: holds ``reduction``; subclasses write ``forward(pred, target)``."""

    task: str = "classification"

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_choice(reduction, REDUCTIONS, "reduction")

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on raw scores (fused log-softmax + NLL, stable for any logits).

    ``pred``: logits (N, C). ``target``: integer labels (N,) in 0..C-1, or class probabilities
    (N, C) (e.g. one-hot, smoothed or mixup labels). Per example: -sum_c t_c log softmax(z)_c.

    ``weight``: None, or (C,) per-class weights for imbalanced data, as in PyTorch: with labels
    row i counts w[y_i] times and "mean" divides by sum_i w[y_i]; with probabilities a row's
    loss is -sum_c w_c t_c log p_c and "mean" divides by N.
    """

    task = "classification"

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight = None if weight is None else check_weight(weight)

    def forward(self, pred: Tensor, target) -> Tensor:
        return ops.cross_entropy(pred, target, reduction=self.reduction, weight=self.weight)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()  # without weights, the same config as before them
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        return config


class NLLLoss(Loss):
    """Negative log-likelihood: ``pred`` are log-probabilities (N, C) (e.g. from LogSoftmax),
    ``target`` integer labels (N,). Per example: -pred[i, target[i]]."""

    task = "classification"

    def forward(self, pred: Tensor, target) -> Tensor:
        return ops.nll_loss(pred, target, reduction=self.reduction)


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on logits, stable for any x:
    max(x, 0) - x t + log(1 + e^-|x|). ``target`` in [0, 1], same shape as ``pred``."""

    task = "classification"

    def forward(self, pred: Tensor, target) -> Tensor:
        return ops.bce_with_logits(pred, target, reduction=self.reduction)


class MSELoss(Loss):
    """Mean squared error (pred - target)^2; shapes must match (no silent broadcasting)."""

    task = "regression"

    def forward(self, pred: Tensor, target) -> Tensor:
        return ops.mse_loss(pred, target, reduction=self.reduction)


class HuberLoss(Loss):
    """0.5 d^2 for |d| <= delta, delta (|d| - delta/2) beyond (d = pred - target), as
    ``torch.nn.HuberLoss``; its gradient is d clipped to [-delta, delta]."""

    task = "regression"

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.delta = check_real(delta, "delta", strict=True)

    def forward(self, pred: Tensor, target) -> Tensor:
        return ops.huber_loss(pred, target, delta=self.delta, reduction=self.reduction)

    def get_config(self) -> dict[str, Any]:
        return {"delta": self.delta, "reduction": self.reduction}


_BY_NAME: dict[str, type[Loss]] = {
    "cross_entropy": CrossEntropyLoss,
    "mse": MSELoss,
    "bce_with_logits": BCEWithLogitsLoss,
    "huber": HuberLoss,
    "nll": NLLLoss,
}

#: Names :func:`get_loss` accepts.
LOSSES: tuple[str, ...] = tuple(_BY_NAME)


def get_loss(name: str | Loss, **kwargs: Any) -> Loss:
    """A loss Module for a name (case-insensitive), built with ``kwargs`` (e.g.
    ``get_loss("huber", delta=0.5)``); a Loss instance passes through unchanged."""
    if isinstance(name, Loss):
        return name
    return _BY_NAME[check_choice(name, _BY_NAME, "loss")](**kwargs)


# --- penalties --------------------------------------------------------------------------------


def _tensors(params: Module | Iterable[Tensor], name: str) -> list[Tensor]:
    items = params.parameters() if isinstance(params, Module) else list(params)
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise ConfigError(f"{name}: params[{i}] is a {type(p).__name__}, expected a Tensor")
    return items


def _total(terms: list[Tensor]) -> Tensor:
    if not terms:
        return Tensor(0.0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def l1_penalty(params: Module | Iterable[Tensor]) -> Tensor:
    """sum_i |w_i| over all given tensors (a scalar Tensor in the graph; gradient sign(w)).

    Pass a Module for all its parameters, or a list, e.g. only the weights:
    ``[p for n, p in model.named_parameters() if n.endswith("weight")]``.
    Add ``lam * l1_penalty(...)`` to the loss.
    """
    return _total([ops.sum(ops.abs(p)) for p in _tensors(params, "l1_penalty")])


def l2_penalty(params: Module | Iterable[Tensor]) -> Tensor:
    """sum_i w_i^2 over all given tensors (no 1/2 factor; gradient 2w).

    ``loss + lam * l2_penalty(ws)`` gives the gradient ``2 lam w``, so it equals SGD's
    ``weight_decay = 2 lam`` (PyTorch's weight_decay=wd is the penalty (wd/2) sum w^2).
    """
    return _total([ops.sum(p * p) for p in _tensors(params, "l2_penalty")])
