"""RMSprop: divide the gradient by a running root mean square, with PyTorch's options."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..errors import ConfigError
from .adam import _check_flag
from .base import Optimizer, _check_non_negative


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), the same update as ``torch.optim.RMSprop`` (and the same defaults).

    For each parameter w with gradient g (learning rate lr, smoothing alpha, weight decay lam,
    momentum mu)::

        g   = g + lam * w                              (when lam > 0)
        v   = alpha * v + (1 - alpha) * g^2            state["square_avg"], starts at 0
        a   = alpha * a + (1 - alpha) * g              state["grad_avg"] (centered only)
        d   = sqrt(v - a^2) + eps  (centered)  or  sqrt(v) + eps
        b   = mu * b + g / d;  w = w - lr * b          state["momentum_buffer"] (mu > 0)
        w   = w - lr * g / d                           (mu == 0)

    "Centered" divides by an estimate of the gradient's variance instead of its raw second
    moment (clamped at 0 where rounding makes v - a^2 negative; PyTorch's is NaN there).
    There is no bias correction (unlike Adam), so early steps are large: v starts at 0.
    ``state["step"]`` counts the steps taken.

    Args:
        params: Parameters or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, > 0.
        alpha: smoothing constant of the averages, in [0, 1].
        eps: >= 0, added to the root mean square (outside the square root, as in PyTorch).
        weight_decay: L2 penalty >= 0 added to the gradient.
        momentum: >= 0; 0 means no momentum buffer.
        centered: subtract the squared mean gradient from the second moment.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        alpha = group["alpha"]
        # PyTorch only asks alpha >= 0; above 1 the weight 1 - alpha turns negative and v
        # (hence its square root) can go negative, so we refuse it.
        real = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
        if not real or not 0 <= alpha <= 1:
            raise ConfigError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        group["alpha"] = float(alpha)
        for key in ("eps", "weight_decay", "momentum"):
            group[key] = _check_non_negative(key, group[key])
        group["centered"] = _check_flag("centered", group["centered"])

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        state = self.state
        for group in self.param_groups:
            lr = group["lr"]
            alpha = group["alpha"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            momentum = group["momentum"]
            centered = group["centered"]
            one_minus_alpha = 1.0 - alpha
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                w = p.data
                grad = g.data
                xp = backend.xp_of(w)
                s = state.get(p)
                if s is None:
                    s = state[p] = {"step": 0, "square_avg": xp.zeros_like(w)}
                    if momentum > 0.0:
                        s["momentum_buffer"] = xp.zeros_like(w)
                    if centered:
                        s["grad_avg"] = xp.zeros_like(w)
                s["step"] += 1
                if weight_decay != 0.0:
                    grad = w * weight_decay
                    grad += g.data
                v = s["square_avg"]
                v *= alpha
                tmp = xp.multiply(grad, grad)  # the one scratch array of this step
                tmp *= one_minus_alpha
                v += tmp
                if centered:
                    a = s.get("grad_avg")
                    if a is None:  # centered switched on after the first steps
                        a = s["grad_avg"] = xp.zeros_like(w)
                    xp.subtract(grad, a, out=tmp)
                    tmp *= one_minus_alpha
                    a += tmp  # a + (1 - alpha) (g - a): torch's lerp form
                    xp.multiply(a, a, out=tmp)
                    xp.subtract(v, tmp, out=tmp)
                    # v >= a^2 in exact arithmetic; rounding can dip below 0 when the gradient
                    # barely varies, where torch's sqrt gives NaN. We clamp at 0 instead.
                    xp.maximum(tmp, 0.0, out=tmp)
                    xp.sqrt(tmp, out=tmp)
                else:
                    xp.sqrt(v, out=tmp)
                tmp += eps
                xp.divide(grad, tmp, out=tmp)
                if momentum > 0.0:
                    buf = s.get("momentum_buffer")
                    if buf is None:
                        buf = s["momentum_buffer"] = xp.zeros_like(w)
                    buf *= momentum
                    buf += tmp
                    xp.multiply(buf, lr, out=tmp)
                else:
                    tmp *= lr
                w -= tmp
