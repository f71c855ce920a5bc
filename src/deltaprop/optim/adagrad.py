"""Adagrad: per-coordinate step sizes from the sum of squared gradients, as in PyTorch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from .base import Optimizer, _check_non_negative


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
        eps: >= 0, added to sqrt(sum) (the default 1e-10 is PyTorch's).
    """

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
        for group in self.param_groups:
            self._init_state(group)

    def _check_options(self, group: dict[str, Any]) -> None:
        for key in ("lr_decay", "eps", "weight_decay", "initial_accumulator_value"):
            group[key] = _check_non_negative(key, group[key])

    def _init_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if p not in self.state:
                xp = backend.xp_of(p.data)
                self.state[p] = {
                    "step": 0,
                    "sum": xp.full_like(p.data, group["initial_accumulator_value"]),
                }

    def add_param_group(self, group: dict[str, Any]) -> None:
        super().add_param_group(group)
        self._init_state(self.param_groups[-1])

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        state = self.state
        for group in self.param_groups:
            lr = group["lr"]
            lr_decay = group["lr_decay"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                w = p.data
                grad = g.data
                xp = backend.xp_of(w)
                s = state.get(p)
                if s is None:  # e.g. a state_dict that left this parameter out
                    self._init_state({**group, "params": [p]})
                    s = state[p]
                t = s["step"] = s["step"] + 1
                if weight_decay != 0.0:
                    grad = w * weight_decay
                    grad += g.data
                clr = lr / (1.0 + (t - 1) * lr_decay)
                acc = s["sum"]
                tmp = xp.multiply(grad, grad)  # the one scratch array of this step
                acc += tmp
                xp.sqrt(acc, out=tmp)
                tmp += eps
                xp.divide(grad, tmp, out=tmp)
                tmp *= clr
                w -= tmp
