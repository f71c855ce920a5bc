"""The optimizer step of a replay: SGD (momentum, Nesterov) and Adam/AdamW with scratch arrays
allocated once per parameter; any other optimizer runs its own ``step()``.

The loop is :meth:`deltaprop.optim.Optimizer.step`'s (groups, parameters without a gradient
skipped, state made at the first update, step counts, weight decay), and the arithmetic that
of each rule's ``update``, in the same order: a replay is bit-identical to the eager step.
Every hyperparameter (``lr`` first) is read from ``param_groups`` at every step, and the state
from ``optimizer.state``, so a schedule, an edited group or a loaded state dict is followed
on the very next step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..optim import SGD, Adam, AdamW, Optimizer


class Update:
    """``update()`` = ``optimizer.step()`` (see the module doc)."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        # exact types only: a subclass may have changed update()
        self.rule = {SGD: _sgd, Adam: _adam, AdamW: _adam}.get(type(optimizer))
        self.name = type(optimizer).__name__
        self._scratch: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # (w, tmp, tmp)

    def __call__(self) -> None:
        opt, rule = self.optimizer, self.rule
        if rule is None:
            opt.step()
            return
        state, scratch = opt.state, self._scratch
        counts, decoupled = opt.counts_steps, opt.decoupled_weight_decay
        for group in opt.param_groups:
            weight_decay = group.get("weight_decay", 0.0)
            if rule is _sgd and group["momentum"] == 0.0 and weight_decay == 0.0:
                self._plain_sgd(group)  # the batch-size-1 hot path: nothing but w -= lr g
                continue
            shrink = 1.0 - group["lr"] * weight_decay
            for p in group["params"]:
                g = p.grad
                # frozen: not stepped, even with a gradient left from an earlier recording
                if g is None or not p.requires_grad:
                    continue
                w = p.data
                s = state.get(p)
                if s is None:
                    s = state[p] = opt._new_state(w, group)
                if counts:
                    s["step"] += 1
                bufs = scratch.get(p)
                if bufs is None or bufs[0] is not w:
                    bufs = scratch[p] = (w, np.empty_like(w), np.empty_like(w))
                grad = g.data
                if weight_decay != 0.0:
                    if decoupled:
                        w *= shrink
                    else:
                        grad = np.multiply(w, weight_decay, out=bufs[2])
                        grad += g.data
                rule(w, grad, s, group, bufs[1])

    def _plain_sgd(self, group: dict) -> None:
        """``w -= lr * g`` for each parameter of a group without momentum or weight decay
        (SGD.update's arithmetic; such a group keeps no state)."""
        scratch, lr = self._scratch, group["lr"]
        for p in group["params"]:
            g = p.grad
            if g is None or not p.requires_grad:
                continue
            w = p.data
            bufs = scratch.get(p)
            if bufs is None or bufs[0] is not w:
                bufs = scratch[p] = (w, np.empty_like(w), np.empty_like(w))
            w -= np.multiply(g.data, lr, out=bufs[1])

    def text(self) -> str:
        if self.rule is None:
            return f"{self.name}.step() (its own code)"
        rule = (
            "w -= lr * d (d = g, or the momentum direction)"
            if self.rule is _sgd
            else ("Adam: m, v moments, w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)")
        )
        return f"{self.name}: {rule}; hyperparameters read at every step, one scratch array"


def _sgd(w, g, state: dict, group: dict, tmp) -> None:
    """SGD.update with the scratch array ``tmp`` for ``lr * d``."""
    momentum = group["momentum"]
    if momentum == 0.0:
        w -= np.multiply(g, group["lr"], out=tmp)
        return
    buf = state.get("momentum_buffer")
    if buf is None:
        buf = state["momentum_buffer"] = g.copy()
    else:
        buf *= momentum
        dampening = group["dampening"]
        buf += g if dampening == 0.0 else np.multiply(g, 1.0 - dampening, out=tmp)
    if group["nesterov"]:
        d = np.multiply(buf, momentum, out=tmp)
        np.add(g, d, out=d)
    else:
        d = buf
    w -= np.multiply(d, group["lr"], out=tmp)


def _adam(w, g, state: dict, group: dict, tmp) -> None:
    """Adam.update (AdamW's too: its decay ran before) with the scratch array ``tmp``."""
    beta1, beta2 = group["betas"]
    t = state["step"]
    m = state["exp_avg"]
    v = state["exp_avg_sq"]
    np.subtract(g, m, out=tmp)
    tmp *= 1.0 - beta1
    m += tmp
    v *= beta2
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v += tmp
    if group["amsgrad"]:
        v_max = state.get("max_exp_avg_sq")
        if v_max is None:
            v_max = state["max_exp_avg_sq"] = v.copy()
        else:
            np.maximum(v_max, v, out=v_max)
        v = v_max
    step_size = group["lr"] / (1.0 - beta1**t)
    bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
    np.sqrt(v, out=tmp)
    tmp /= bias_correction2_sqrt
    tmp += group["eps"]
    np.divide(m, tmp, out=tmp)
    tmp *= step_size
    w -= tmp
