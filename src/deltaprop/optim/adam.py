"""Adam and AdamW: adaptive moments with PyTorch's bias correction, AMSGrad and defaults."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..errors import ConfigError
from .base import Optimizer, _check_non_negative


def _check_betas(value: Any) -> tuple[float, float]:
    """``(beta1, beta2)``, each a number in [0, 1); JSON's list form is accepted."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(
            f"betas: expected a pair (beta1, beta2) of numbers in [0, 1), got {value!r}"
        )
    for i, b in enumerate(value):
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not 0.0 <= b < 1.0:
            raise ConfigError(f"betas[{i}]: expected a number in [0, 1), got {b!r}")
    return (float(value[0]), float(value[1]))


def _check_flag(name: str, value: Any) -> bool:
    """``value`` when it is a bool, else ConfigError naming the argument."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), the same update as ``torch.optim.Adam`` (and the same defaults).

    For each parameter w with gradient g, at step t = 1, 2, ... (learning rate lr, betas
    (b1, b2), weight decay lam)::

        g     = g + lam * w                    (L2 penalty in the gradient, when lam > 0)
        m_t   = b1 * m_{t-1} + (1 - b1) * g          first moment,  state["exp_avg"]
        v_t   = b2 * v_{t-1} + (1 - b2) * g^2        second moment, state["exp_avg_sq"]
        v_hat = max(v_hat, v_t)  (AMSGrad)  or  v_t  state["max_exp_avg_sq"]
        w     = w - lr / (1 - b1^t) * m_t / (sqrt(v_hat) / sqrt(1 - b2^t) + eps)

    m and v start at zero; the two ``1 - b^t`` factors undo that bias. ``state["step"]`` counts
    the steps this parameter took (one with no gradient is skipped and not counted). Note that
    eps is added after the bias correction of sqrt(v), as in PyTorch (not in the paper).

    Args:
        params: Parameters or parameter-group dicts (see :class:`Optimizer`).
        lr: learning rate, > 0.
        betas: decay rates (b1, b2) of the two moments, each in [0, 1).
        eps: >= 0, keeps the denominator away from zero.
        weight_decay: L2 penalty >= 0 added to the gradient (coupled with the moments; for the
            decoupled form see :class:`AdamW`).
        amsgrad: normalize by the largest second moment seen so far (Reddi et al., 2018).
    """

    # AdamW sets this: weight decay shrinks w directly instead of entering the gradient.
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        super().__init__(params, defaults)

    def _check_options(self, group: dict[str, Any]) -> None:
        group["betas"] = _check_betas(group["betas"])
        group["eps"] = _check_non_negative("eps", group["eps"])
        group["weight_decay"] = _check_non_negative("weight_decay", group["weight_decay"])
        group["amsgrad"] = _check_flag("amsgrad", group["amsgrad"])

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        state = self.state
        decoupled = self._decoupled_weight_decay
        for group in self.param_groups:
            lr = group["lr"]
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            amsgrad = group["amsgrad"]
            one_minus_beta1 = 1.0 - beta1
            one_minus_beta2 = 1.0 - beta2
            shrink = 1.0 - lr * weight_decay
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                w = p.data
                grad = g.data
                xp = backend.xp_of(w)
                s = state.get(p)
                if s is None:
                    s = state[p] = {"step": 0, "exp_avg": xp.zeros_like(w)}
                    s["exp_avg_sq"] = xp.zeros_like(w)
                    if amsgrad:
                        s["max_exp_avg_sq"] = xp.zeros_like(w)
                t = s["step"] = s["step"] + 1
                m = s["exp_avg"]
                v = s["exp_avg_sq"]
                if weight_decay != 0.0:
                    if decoupled:
                        w *= shrink
                    else:
                        grad = w * weight_decay
                        grad += g.data
                # One scratch array serves every intermediate below.
                tmp = xp.subtract(grad, m)
                tmp *= one_minus_beta1
                m += tmp  # m + (1 - b1) (g - m): torch's lerp form of the moving average
                v *= beta2
                xp.multiply(grad, grad, out=tmp)
                tmp *= one_minus_beta2
                v += tmp
                if amsgrad:
                    v_max = s.get("max_exp_avg_sq")
                    if v_max is None:  # amsgrad switched on after the first steps
                        v_max = s["max_exp_avg_sq"] = v.copy()
                    else:
                        xp.maximum(v_max, v, out=v_max)
                    v = v_max
                step_size = lr / (1.0 - beta1**t)
                bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
                xp.sqrt(v, out=tmp)
                tmp /= bias_correction2_sqrt
                tmp += eps
                xp.divide(m, tmp, out=tmp)
                tmp *= step_size
                w -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    The same as :class:`Adam` except that weight decay does not enter the gradient (and so
    neither moment); each step first shrinks the weights::

        w   = w * (1 - lr * lam)
        m_t, v_t, v_hat as in Adam, from the raw gradient g
        w   = w - lr / (1 - b1^t) * m_t / (sqrt(v_hat) / sqrt(1 - b2^t) + eps)

    The default ``weight_decay`` is 1e-2 (PyTorch's); other arguments as in :class:`Adam`.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )
