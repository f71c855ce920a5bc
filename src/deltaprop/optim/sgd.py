"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from .base import Optimizer, _check_non_negative


class SGD(Optimizer):
    """Gradient descent, the same update as ``torch.optim.SGD`` (and the same defaults).

    For each parameter w with gradient g, learning rate lr, momentum mu, dampening tau and
    weight decay lam, at step t::

        g   = g + lam * w                          (weight decay, when lam > 0)
        b_1 = g;  b_t = mu * b_{t-1} + (1 - tau) * g   (momentum buffer, when mu > 0)
        d   = g + mu * b_t  (Nesterov)  or  d = b_t   (or d = g when mu == 0)
        w   = w - lr * d

    With ``momentum=0`` it is the plain step ``w = w - lr * g``. Parameters whose
    gradient is None are skipped (and their momentum buffer is left as it was).

    Args:
        params: Parameters or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, > 0.
        momentum: >= 0; the buffer lives in ``state[p]["momentum_buffer"]``.
        dampening: >= 0, scales down the new gradient in the buffer.
        nesterov: look-ahead momentum; needs ``momentum > 0`` and ``dampening == 0``.
        weight_decay: L2 penalty >= 0 added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        for key in ("momentum", "dampening", "weight_decay"):
            group[key] = _check_non_negative(key, group[key])
        if not isinstance(group["nesterov"], bool):
            raise ConfigError(f"nesterov: expected True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ConfigError(
                "nesterov: needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            lr = group["lr"]
            momentum = group["momentum"]
            weight_decay = group["weight_decay"]
            if momentum == 0.0 and weight_decay == 0.0:
                # The hot path (plain SGD): one fused in-place update per parameter.
                for p in group["params"]:
                    g = p.grad
                    if g is not None:
                        p.data -= lr * g.data
                continue
            dampening = group["dampening"]
            nesterov = group["nesterov"]
            state = self.state
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                d = g.data
                if weight_decay != 0.0:
                    d = d + weight_decay * p.data
                if momentum != 0.0:
                    s = state.get(p)
                    if s is None:
                        s = state[p] = {}
                    buf = s.get("momentum_buffer")
                    if buf is None:
                        # Torch starts the buffer at the first gradient, undampened.
                        buf = s["momentum_buffer"] = d.copy()
                    else:
                        buf *= momentum
                        buf += d if dampening == 0.0 else (1.0 - dampening) * d
                    d = d + momentum * buf if nesterov else buf
                p.data -= lr * d
