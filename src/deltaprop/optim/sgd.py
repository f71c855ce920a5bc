"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..checks import check_bool, check_real
from ..errors import ConfigError
from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent, the same update as ``torch.optim.SGD`` (and the same defaults).

    The defaults are PyTorch's (``lr=1e-3`` too), so that code and parity tests written for
    torch give the same numbers; :func:`deltaprop.optim.get_optimizer` picks a learning rate by
    name instead (:func:`deltaprop.optim.default_lr`, 0.1 for ``"sgd"``).

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
            group[key] = check_real(group[key], key)
        group["nesterov"] = check_bool(group["nesterov"], "nesterov")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ConfigError(
                "nesterov: needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _step_group(self, group: dict[str, Any]) -> None:
        if group["momentum"] != 0.0 or group["weight_decay"] != 0.0:
            super()._step_group(group)
            return
        # plain SGD (the textbook loop, and batch size 1's hot path): w -= lr g and nothing else
        lr, scratch = group["lr"], self._scratch.get
        for p in group["params"]:
            g = p.grad
            if g is None or not p.requires_grad:
                continue
            w = p.data
            w -= backend.xp_of(w).multiply(g.data, lr, out=scratch(w))

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """``w -= lr * d``, d the gradient or the (Nesterov) momentum direction."""
        xp, tmp = backend.xp_of(w), self.scratch(w)
        momentum = group["momentum"]
        if momentum == 0.0:
            w -= xp.multiply(g, group["lr"], out=tmp)
            return
        buf = state.get("momentum_buffer")
        if buf is None:
            # Torch starts the buffer at the first gradient, undampened (so no init_state).
            buf = state["momentum_buffer"] = g.copy()
        else:
            buf *= momentum
            dampening = group["dampening"]
            buf += g if dampening == 0.0 else xp.multiply(g, 1.0 - dampening, out=tmp)
        if group["nesterov"]:
            d = xp.multiply(buf, momentum, out=tmp)
            xp.add(g, d, out=d)
        else:
            d = buf
        w -= xp.multiply(d, group["lr"], out=tmp)
