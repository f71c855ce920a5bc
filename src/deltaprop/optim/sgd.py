"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """``w -= lr * d``, d the gradient or the (Nesterov) momentum direction."""
        momentum = group["momentum"]
        if momentum == 0.0:
            w -= group["lr"] * g  # the hot path (plain SGD): one fused in-place update
            return
        buf = state.get("momentum_buffer")
        if buf is None:
            # Torch starts the buffer at the first gradient, undampened (so no init_state).
            buf = state["momentum_buffer"] = g.copy()
        else:
            buf *= momentum
            dampening = group["dampening"]
            buf += g if dampening == 0.0 else (1.0 - dampening) * g
        d = g + momentum * buf if group["nesterov"] else buf
        w -= group["lr"] * d
