"""Replay kernels of the two common losses: softmax cross-entropy on integer labels, and mean
squared error. Each returns the loss as a NumPy scalar from ``forward`` and starts the
backward pass (its ``gy`` is the seed d loss / d loss = 1).

Softmax cross-entropy, logits z (N, C), labels t (N,)::

    z' = z - max_c z;  e = exp(z');  s = sum_c e;  loss = mean(log s - z'[t])
    dz = (e / s - onehot(t)) / N          computed in place in e's buffer

The arithmetic and its order are those of :class:`deltaprop.ops.loss.SoftmaxCrossEntropy`.
The labels are checked at every replay, as eager's loss does (a -1 would pick the last
class): one maximum over their unsigned view, where a negative label is a huge one. The
picked entries are then read and written through flat indices ``row * C + t``, computed once
(a 1-D index is half the cost of ``z[rows, t]``'s two).
"""

from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..ops.loss import check_labels
from .kernel import Kernel, empty


class SoftmaxCrossEntropyKernel(Kernel):
    """Sparse softmax cross-entropy, reduction "mean" or "sum" (see the module doc)."""

    op = "softmax_cross_entropy"

    def __init__(
        self, inputs, out, needs, logits_shape, dtype, reduction: str, label_dtype=np.int64
    ) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        # the labels' unsigned view: a negative label is a huge one (the check, below)
        self._unsigned = f"u{np.dtype(label_dtype).itemsize}"
        n, c = logits_shape
        self.n, self.reduction = n, reduction
        self.m = empty((n, 1), dtype)
        self.z = empty((n, c), dtype)
        self.e = empty((n, c), dtype)
        self.s = empty((n, 1), dtype)
        self.log_s = empty((n, 1), dtype)
        self.values = empty((n,), dtype)
        self.classes = c
        self.row_starts = np.arange(n) * c  # row * C: + the label is the flat index
        self.flat = empty((n,), np.intp)
        self.owned = (True, True)

    def bind(self, t):
        names = ("m", "z", "e", "s", "log_s", "values", "row_starts", "flat")
        return {**{f"{t}_{n}": getattr(self, n) for n in names}, t: self,
                f"{t}_log_s0": self.log_s[:, 0], f"{t}_scale": 1.0 / self.n,
                f"{t}_zf": self.z.reshape(-1), f"{t}_ef": self.e.reshape(-1)}  # fmt: skip

    def bad_labels(self, labels) -> None:
        """Raise eager's error for labels outside 0..C-1 (called when the check fails)."""
        check_labels(Tensor._wrap(labels), self.classes)

    def emit_forward(self, v, t):
        logits, labels, loss = v(self.inputs[0]), v(self.inputs[1]), v(self.out)
        c = self.classes
        if self.n == 1:
            check = [f"label = {labels}[0]", f"if not 0 <= label < {c}:",
                     f"    {t}.bad_labels({labels})"]  # fmt: skip
        else:
            check = [f"if max_reduce({labels}.view('{self._unsigned}')) >= {c}:",
                     f"    {t}.bad_labels({labels})",
                     f"add({t}_row_starts, {labels}, {t}_flat)"]  # fmt: skip
        lines = [*check, f"max_reduce({logits}, 1, None, {t}_m, True)",
                 f"subtract({logits}, {t}_m, {t}_z)",
                 f"exp({t}_z, {t}_e)",
                 f"add_reduce({t}_e, 1, None, {t}_s, True)",
                 f"log({t}_s, {t}_log_s)"]  # fmt: skip
        if self.n == 1:  # one row: its loss is the total (the same float32 arithmetic)
            return [*lines, f"{loss} = {t}_log_s[0, 0] - {t}_z[0, label]"]
        total = f"add_reduce({t}_values, None)"
        return [*lines,
                f"subtract({t}_log_s0, {t}_zf.take({t}_flat), {t}_values)",
                f"{loss} = asarray({total} / {self.n})" if self.reduction == "mean"
                else f"{loss} = asarray({total})"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        labels = v(self.inputs[1])
        # softmax, over e: the gradient is built in place
        lines = [f"divide({t}_e, {t}_s, {t}_e)",
                 f"{t}_e[0, {labels}[0]] -= 1" if self.n == 1
                 else f"{t}_ef[{t}_flat] -= 1"]  # fmt: skip
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
