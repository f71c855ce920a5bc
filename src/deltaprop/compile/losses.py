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

_add_reduce, _max_reduce = np.add.reduce, np.maximum.reduce


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

    def forward(self, vals):
        logits, t = vals[self.inputs[0]], vals[self.inputs[1]]
        z, e, s = self.z, self.e, self.s
        _max_reduce(logits, axis=1, keepdims=True, out=self.m)
        np.subtract(logits, self.m, out=z)
        np.exp(z, out=e)
        _add_reduce(e, axis=1, keepdims=True, out=s)
        np.log(s, out=self.log_s)
        if self.n == 1:  # one row: its loss is the total (same float32 arithmetic, 2 calls less)
            vals[self.out] = np.asarray(self.log_s[0, 0] - z[0, t[0]])
            return
        np.subtract(self.log_s[:, 0], z[self.rows, t], out=self.values)
        total = _add_reduce(self.values, axis=None)
        vals[self.out] = np.asarray(total / self.n if self.reduction == "mean" else total)

    def backward(self, vals, gy, may_write):
        g, t = self.e, vals[self.inputs[1]]
        np.divide(g, self.s, out=g)  # softmax, over e: the gradient is built in place
        if self.n == 1:
            g[0, t[0]] -= 1
        else:
            g[self.rows, t] -= 1
        if self.reduction == "mean":
            g *= float(gy) / self.n
        elif float(gy) != 1.0:  # pragma: no cover - the loss is always the root
            g *= gy
        return g, None

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

    def forward(self, vals):
        np.subtract(vals[self.inputs[0]], vals[self.inputs[1]], out=self.d)
        np.multiply(self.d, self.d, out=self.sq)
        total = _add_reduce(self.sq, axis=None)
        vals[self.out] = np.asarray(total / self.size if self.reduction == "mean" else total)

    def backward(self, vals, gy, may_write):
        g = np.multiply(self.d, 2, out=self.g)
        g *= gy / self.size if self.reduction == "mean" else gy
        return (g if self.needs[0] else None), (-g if self.needs[1] else None)

    def text(self, name):
        p, t, loss = name(self.inputs[0]), name(self.inputs[1]), name(self.out)
        return f"{loss} = mean(({p} - {t})^2)  [buffers]", f"d{p} = 2 ({p} - {t}) / {self.size}"
