"""RMSprop: divide the gradient by a running root mean square, with PyTorch's options."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..checks import check_bool, check_fraction, check_real
from .base import Optimizer


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
    ``state["step"]`` counts the steps taken. The defaults are PyTorch's (``lr=1e-2`` too).

    Args:
        params: Parameters or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, > 0.
        alpha: smoothing constant of the averages, in [0, 1].
        eps: >= 0, added to the root mean square (outside the square root, as in PyTorch).
        weight_decay: L2 penalty >= 0 added to the gradient.
        momentum: >= 0; 0 means no momentum buffer.
        centered: subtract the squared mean gradient from the second moment.
    """

    counts_steps = True

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
        # PyTorch only asks alpha >= 0; above 1 the weight 1 - alpha turns negative and v
        # (hence its square root) can go negative, so we refuse it.
        group["alpha"] = check_fraction(group["alpha"], "alpha", closed_low=True, closed_high=True)
        for key in ("eps", "weight_decay", "momentum"):
            group[key] = check_real(group[key], key)
        group["centered"] = check_bool(group["centered"], "centered")

    def init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        """The averages (and the momentum buffer) start at zero."""
        xp = backend.xp_of(w)
        s = {"square_avg": xp.zeros_like(w)}
        if group["momentum"] > 0.0:
            s["momentum_buffer"] = xp.zeros_like(w)
        if group["centered"]:
            s["grad_avg"] = xp.zeros_like(w)
        return s

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Move the averages, then ``w -= lr * g / d`` (through the momentum buffer if any)."""
        xp = backend.xp_of(w)
        alpha = group["alpha"]
        one_minus_alpha = 1.0 - alpha
        v = state["square_avg"]
        v *= alpha
        tmp = xp.multiply(g, g, out=self.scratch(w))  # the one scratch array of this step
        tmp *= one_minus_alpha
        v += tmp
        if group["centered"]:
            a = state.get("grad_avg")
            if a is None:  # centered switched on after the first steps
                a = state["grad_avg"] = xp.zeros_like(w)
            xp.subtract(g, a, out=tmp)
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
        tmp += group["eps"]
        xp.divide(g, tmp, out=tmp)
        momentum = group["momentum"]
        if momentum > 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(w)
            buf *= momentum
            buf += tmp
            xp.multiply(buf, group["lr"], out=tmp)
        else:
            tmp *= group["lr"]
        w -= tmp
