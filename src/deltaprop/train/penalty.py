"""L1/L2 weight penalties for the Trainer: collected once, added to the loss and its gradient.

The penalty on a weight matrix W with coefficients (a, b) is::

    a * sum |W|  +  b * sum W^2        gradient:  a * sign(W) + 2 b W

(no 1/2 factor: ``b * sum W^2`` is Keras's ``l2(b)``, and PyTorch's ``weight_decay=2b``).

Only the ``weight`` of Linear layers is penalized; biases and normalization parameters are
not (shrinking them towards 0 does not regularize, it only shifts the outputs). The whole-model
coefficients of the Trainer and a layer's own ``Linear(..., l1=, l2=)`` add up.

Why not extra graph nodes: the penalty depends on the weights alone, so its value and gradient
have closed forms. ``train_step`` adds the value to the reported loss and the gradient to
``W.grad`` right after backward, before clipping and the step. The result is the same as
putting the penalty in the loss and differentiating it, at a fraction of the cost (no abs,
square, sum and add nodes per layer per step).
"""

from __future__ import annotations

from ..autograd.tensor import Tensor
from ..backend import xp_of
from ..nn.linear import Linear
from ..nn.module import Module, Parameter

Term = tuple[Parameter, float, float]  # (weight, l1, l2)


def collect(model: Module, l1: float, l2: float) -> list[Term]:
    """``(weight, l1, l2)`` for every Linear layer whose total coefficients are not both 0.

    ``l1``/``l2`` apply to every Linear weight; a layer's own ``l1``/``l2`` attributes are
    added to them. A weight shared by several layers is listed once (its first layer's values).
    """
    terms: list[Term] = []
    seen: set[int] = set()
    for module in model.modules():
        if not isinstance(module, Linear) or id(module.weight) in seen:
            continue
        seen.add(id(module.weight))
        a = l1 + float(getattr(module, "l1", 0.0))
        b = l2 + float(getattr(module, "l2", 0.0))
        if a or b:
            terms.append((module.weight, a, b))
    return terms


def value(terms: list[Term]) -> float:
    """The total penalty at the current weights, a Python float."""
    total = 0.0
    for w, a, b in terms:
        d = w.data
        xp = xp_of(d)
        if a:
            total += a * float(xp.abs(d).sum())
        if b:
            flat = d.ravel()
            total += b * float(xp.vdot(flat, flat))
    return total


def add_gradients(terms: list[Term]) -> None:
    """``W.grad += a * sign(W) + 2 b W`` for every term (in place: the engine gives each
    parameter its own gradient array). A weight that got no gradient gets the penalty's; a
    frozen one (``requires_grad`` False) gets none: freezing keeps it as it is."""
    for w, a, b in terms:
        if not w.requires_grad:
            continue
        d = w.data
        extra = (2.0 * b) * d if b else None
        if a:
            s = xp_of(d).sign(d)
            s *= a
            extra = s if extra is None else extra + s
        if w.grad is None:
            w.grad = Tensor._wrap(extra)
        else:
            w.grad.data += extra
