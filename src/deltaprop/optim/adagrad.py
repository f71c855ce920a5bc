"""Adagrad: per-coordinate step sizes from the sum of squared gradients, as in PyTorch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..checks import check_real
from .base import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), the same update as ``torch.optim.Adagrad`` (same defaults).

    For each parameter w with gradient g, at step t = 1, 2, ... (learning rate lr, decay k,
    weight decay lam)::

        g   = g + lam * w                    (when lam > 0)
        lr_t = lr / (1 + (t - 1) * k)
        s   = s + g^2                        state["sum"], starts at initial_accumulator_value
        w   = w - lr_t * g / (sqrt(s) + eps)

    Coordinates with large past gradients take small steps. The accumulator only grows, so the
    steps shrink for good: Adagrad suits convex and sparse problems more than long deep-net runs.
    As in PyTorch, every parameter's state (``step`` = 0, ``sum``) is made when the optimizer is.

    Args:
        params: Parameters or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, > 0.
        lr_decay: >= 0, the learning rate decays as lr / (1 + (t - 1) * lr_decay).
        weight_decay: L2 penalty >= 0 added to the gradient.
        initial_accumulator_value: >= 0, the starting value of every ``sum`` entry.
        eps: >= 0, added to sqrt(sum) (the default 1e-10 is PyTorch's, as are the others).
    """

    counts_steps = True
    eager_state = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        for key in ("lr_decay", "eps", "weight_decay", "initial_accumulator_value"):
            group[key] = check_real(group[key], key)

    def init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        """The accumulator starts at ``initial_accumulator_value``."""
        return {"sum": backend.xp_of(w).full_like(w, group["initial_accumulator_value"])}

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """``s += g^2``, then ``w -= lr_t * g / (sqrt(s) + eps)``."""
        xp = backend.xp_of(w)
        clr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        acc = state["sum"]
        tmp = xp.multiply(g, g, out=self.scratch(w))  # the one scratch array of this step
        acc += tmp
        xp.sqrt(acc, out=tmp)
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        tmp *= clr
        w -= tmp
