"""Adam and AdamW: adaptive moments with PyTorch's bias correction, AMSGrad and defaults."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..checks import check_bool, check_fraction, check_real
from ..errors import ConfigError
from .base import Optimizer


def check_betas(value: Any) -> tuple[float, float]:
    """``(beta1, beta2)``, each a number in [0, 1); JSON's list form is accepted."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigError(
            f"betas: expected a pair (beta1, beta2) of numbers in [0, 1), got {value!r}"
        )
    b1, b2 = (check_fraction(b, f"betas[{i}]", closed_low=True) for i, b in enumerate(value))
    return (b1, b2)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), the same update as ``torch.optim.Adam`` (and the same defaults).

    The defaults are PyTorch's, so torch code and parity tests give the same numbers (see
    :func:`deltaprop.optim.default_lr` for the learning rate a name gets).

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

    counts_steps = True

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
        group["betas"] = check_betas(group["betas"])
        group["eps"] = check_real(group["eps"], "eps")
        group["weight_decay"] = check_real(group["weight_decay"], "weight_decay")
        group["amsgrad"] = check_bool(group["amsgrad"], "amsgrad")

    def init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        """Both moments (and AMSGrad's running maximum) start at zero."""
        xp = backend.xp_of(w)
        s = {"exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}
        if group["amsgrad"]:
            s["max_exp_avg_sq"] = xp.zeros_like(w)
        return s

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Move both moments, then take the bias-corrected step (the class docstring's rule)."""
        beta1, beta2 = group["betas"]
        xp = backend.xp_of(w)
        t = state["step"]
        m = state["exp_avg"]
        v = state["exp_avg_sq"]
        # One scratch array serves every intermediate below.
        tmp = xp.subtract(g, m, out=self.scratch(w))
        tmp *= 1.0 - beta1
        m += tmp  # m + (1 - b1) (g - m): torch's lerp form of the moving average
        v *= beta2
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - beta2
        v += tmp
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:  # amsgrad switched on after the first steps
                v_max = state["max_exp_avg_sq"] = v.copy()
            else:
                xp.maximum(v_max, v, out=v_max)
            v = v_max
        step_size = group["lr"] / (1.0 - beta1**t)
        bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
        xp.sqrt(v, out=tmp)
        tmp /= bias_correction2_sqrt
        tmp += group["eps"]
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

    decoupled_weight_decay = True

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
