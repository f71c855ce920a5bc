"""Replay kernels of the two common losses: softmax cross-entropy on integer labels, and mean
squared error. Each returns the loss as a NumPy scalar from ``forward`` and starts the
backward pass (its ``gy`` is the seed d loss / d loss = 1).

Softmax cross-entropy, logits z (N, C), labels t (N,)::

    z' = z - max_c z;  e = exp(z');  s = sum_c e;  loss = mean(log s - z'[t])
    dz = (e / s - onehot(t)) / N          computed in place in e's buffer

The arithmetic and its order are those of :class:`deltaprop.ops.loss.SoftmaxCrossEntropy`.
"""

from __future__ import annotations

import numpy as np

from .kernel import Kernel, empty


class SoftmaxCrossEntropyKernel(Kernel):
    """Sparse softmax cross-entropy, reduction "mean" or "sum" (see the module doc)."""

    op = "softmax_cross_entropy"

    def __init__(self, inputs, out, needs, logits_shape, dtype, reduction: str) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        n, c = logits_shape
        self.n, self.reduction = n, reduction
        self.m = empty((n, 1), dtype)
        self.z = empty((n, c), dtype)
        self.e = empty((n, c), dtype)
        self.s = empty((n, 1), dtype)
        self.log_s = empty((n, 1), dtype)
        self.values = empty((n,), dtype)
        self.rows = np.arange(n)
        self.owned = (True, True)

    def bind(self, t):
        names = ("m", "z", "e", "s", "log_s", "values", "rows")
        return {**{f"{t}_{n}": getattr(self, n) for n in names},
                f"{t}_log_s0": self.log_s[:, 0], f"{t}_scale": 1.0 / self.n}  # fmt: skip

    def emit_forward(self, v, t):
        logits, labels, loss = v(self.inputs[0]), v(self.inputs[1]), v(self.out)
        lines = [f"max_reduce({logits}, 1, None, {t}_m, True)",
                 f"subtract({logits}, {t}_m, {t}_z)",
                 f"exp({t}_z, {t}_e)",
                 f"add_reduce({t}_e, 1, None, {t}_s, True)",
                 f"log({t}_s, {t}_log_s)"]  # fmt: skip
        if self.n == 1:  # one row: its loss is the total (the same float32 arithmetic)
            return [*lines, f"{loss} = {t}_log_s[0, 0] - {t}_z[0, {labels}[0]]"]
        total = f"add_reduce({t}_values, None)"
        return [*lines,
                f"subtract({t}_log_s0, {t}_z[{t}_rows, {labels}], {t}_values)",
                f"{loss} = asarray({total} / {self.n})" if self.reduction == "mean"
                else f"{loss} = asarray({total})"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        labels = v(self.inputs[1])
        # softmax, over e: the gradient is built in place
        lines = [f"divide({t}_e, {t}_s, {t}_e)",
                 f"{t}_e[0, {labels}[0]] -= 1" if self.n == 1
                 else f"{t}_e[{t}_rows, {labels}] -= 1"]  # fmt: skip
        if self.reduction == "mean":
            # the loss is the root: g is the seed 1, and float(g) / n is 1 / n
            scale = f"{t}_scale" if g == "seed" else f"float({g}) / {self.n}"
            lines.append(f"multiply({t}_e, {scale}, {t}_e)")
        else:
            lines += [f"if float({g}) != 1.0:", f"    multiply({t}_e, {g}, {t}_e)"]
        return [*lines, f"{outs[0]} = {t}_e"]

    def text(self, name):
        z, t, loss = name(self.inputs[0]), name(self.inputs[1]), name(self.out)
        red = "mean" if self.reduction == "mean" else "sum"
        return (
            f"{loss} = {red}(log(sum(exp({z} - max))) - ({z} - max)[{t}])  [e, s buffers]",
            f"d{z} = (e / s - onehot({t}))"
            + (f" / {self.n}" if red == "mean" else "")
            + "  [in place in e]",
        )


class MSEKernel(Kernel):
    """Mean (or summed) squared error: d = p - t, loss = mean(d*d); backward dp = 2 d / size
    (the eager order: ``(2 * d) * (1 / size)``), dt = -dp where the target needs one."""

    op = "mse"

    def __init__(self, inputs, out, needs, shape, dtype, reduction: str) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        self.reduction = reduction
        self.size = int(np.prod(shape))
        self.d = empty(shape, dtype)
        self.sq = empty(shape, dtype)
        self.g = empty(shape, dtype)
        self.owned = (True, False)

    def bind(self, t):
        return {f"{t}_d": self.d, f"{t}_sq": self.sq, f"{t}_g": self.g}

    def emit_forward(self, v, t):
        total = f"add_reduce({t}_sq, None)"
        mean = self.reduction == "mean"
        loss = f"asarray({total} / {self.size})" if mean else f"asarray({total})"
        return [f"subtract({v(self.inputs[0])}, {v(self.inputs[1])}, {t}_d)",
                f"multiply({t}_d, {t}_d, {t}_sq)", f"{v(self.out)} = {loss}"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        scale = f"{g} / {self.size}" if self.reduction == "mean" else g
        lines = [f"multiply({t}_d, 2, {t}_g)", f"multiply({t}_g, {scale}, {t}_g)"]
        if outs[0] is not None:
            lines.append(f"{outs[0]} = {t}_g")
        if outs[1] is not None:
            lines.append(f"{outs[1]} = negative({t}_g)")
        return lines

    def text(self, name):
        p, t, loss = name(self.inputs[0]), name(self.inputs[1]), name(self.out)
        return f"{loss} = mean(({p} - {t})^2)  [buffers]", f"d{p} = 2 ({p} - {t}) / {self.size}"
