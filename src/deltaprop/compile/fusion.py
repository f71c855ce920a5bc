"""The SGD update inside the backward: which parameters, per step, and the bias folded in.

With plain SGD (no momentum, no weight decay) and nothing reading the gradients, a linear
layer's backward updates its own weight and bias (dense.py's fusions): :func:`fusable` finds
the parameters that may take it (used by one kernel only), :func:`set_fusion` decides per
step (a schedule or an edited group is read every step).

**The bias folded into the GEMM**, ``[x, 1] @ [W; b]`` (:func:`fold_biases`). A bias costs
three passes of its own in a step: ``y += b`` in the forward, ``db = sum_rows(g)`` and
``b -= lr * db`` in the backward (four NumPy calls a layer: 8 of the 28 calls of a 64-32-10
step at batch size 1). With a column of ones after the input and the bias as the weight's last
row, the GEMMs do all three:

- forward: ``y = [x, 1] @ [W; b]`` (the bias added inside the GEMM);
- backward: ``[x, 1]^T g = [dW; db]``, so the fused update ``[W; b] -= lr [x, 1]^T g`` is one
  GEMM and one pass for both parameters.

What it takes: the weight and the bias are rows of one array (:func:`augmented` allocates it
once and rebinds both Parameters' ``.data`` to views of it: ``W`` its first rows, ``b`` its
last, the values unchanged), and the input sits in a buffer with a ones column. The
activation (or dropout) that makes the input writes its output straight into that buffer;
any other input (the batch) is copied there, which is only done where the copy is cheaper
than the bias's own passes.

Only recorded while the update is fused (plain SGD), whose replay is already not
bit-identical to eager (within 1e-6 relative per step): folding moves the bias into the
GEMM's sum, which rounds differently again. Every other optimizer's replay stays bit for bit
eager's, so nothing is folded there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .dense import LinearKernel, ReLUKernel, SigmoidKernel, TanhKernel
from .dropout import DropoutKernel
from .kernel import empty

#: Kernels that can write their output into a buffer they are given (``into``).
WRITERS = (ReLUKernel, TanhKernel, SigmoidKernel, DropoutKernel)

#: An input no wider than this many times the output is copied into ``[x, 1]``. The copy
#: reads and writes N x in numbers; the bias's add and row sum read 2 N x out and write
#: N x out. At 2 (784 -> 512 at batch 512) the two came out even within the VM's noise
#: (in-process A/B, 15 rounds), so a copy is made only where it clearly pays.
COPY_WIDTH = 1

#: Inputs of at most this many numbers are copied into ``[x, 1]`` whatever their width: the
#: step is then bound by the number of NumPy calls, and the copy is one call against four.
SMALL_INPUT = 4096


def augmented(pw: Any, pb: Any) -> np.ndarray:
    """``[W; b]``, (in + 1, out): one C-ordered array holding the weight's rows, then the
    bias. The first call for a pair copies both in and rebinds ``pw.data``/``pb.data`` to its
    views; later calls (another batch shape's recording) find the same array and keep it."""
    w, b = pw.data, pb.data
    k, m = w.shape
    base = w.base
    if (
        base is not None
        and b.base is base
        and base.shape == (k + 1, m)
        and base.dtype == w.dtype == b.dtype
        and base.flags.c_contiguous
        and w.ctypes.data == base.ctypes.data
        and b.ctypes.data == base[k].ctypes.data
    ):
        return base
    aug = np.empty((k + 1, m), dtype=w.dtype)
    aug[:k] = w
    aug[k] = b
    pw.data, pb.data = aug[:k], aug[k]
    return aug


class FoldedLinearKernel(LinearKernel):
    """A linear layer whose bias is folded into its GEMMs (see the module doc).

    Buffers: ``xaug`` (N, in + 1), the input and a ones column (``xin`` is its first ``in``
    columns); ``gaug`` (in + 1, out), ``[dW; db]`` when the update does not run inside the
    backward (``gwv``/``gbv``: its views, the two gradients)."""

    def __init__(self, k: LinearKernel, w_aug: np.ndarray, copy_input: bool) -> None:
        self.__dict__.update(k.__dict__)
        n, m = self.y.shape
        rows = w_aug.shape[0]
        self.w_aug, self.copy_input = w_aug, copy_input
        self.xaug = empty((n, rows), self.y.dtype)
        self.xaug[:, -1] = 1
        self.xin = self.xaug[:, :-1]
        self.gaug = empty((rows, m), self.y.dtype)
        self.gw = self.gb = None  # the two gradients are views of gaug now
        # lr scales the smaller of [x, 1] and g (the ones column too: lr * 1 * g = lr * g)
        self.scale_x = rows < m
        self._scaled_shape = (n, rows) if self.scale_x else (n, m)

    def bind(self, t):
        names = super().bind(t)
        names.update({f"{t}_waug": self.w_aug, f"{t}_xaug": self.xaug, f"{t}_xin": self.xin,
                      f"{t}_gaug": self.gaug, f"{t}_gwv": self.gaug[:-1],
                      f"{t}_gbv": self.gaug[-1]})  # fmt: skip
        return names

    def emit_forward(self, v, t):
        copy = [f"copyto({t}_xin, {v(self.inputs[0])})"] if self.copy_input else []
        return [*copy, f"{v(self.out)} = dot({t}_xaug, {t}_waug, {t}_y)"]

    def emit_backward(self, v, g, outs, may_write, t):
        w = v(self.inputs[1])  # W's own rows of [W; b]: dx = g W^T leaves the bias out
        lines = self.dx_lines(g, w, outs[0], t)
        # [W; b] -= lr [x, 1]^T g: dense.py's fused update on the augmented arrays
        fused = self.fused_update(f"{t}_xaug", g, f"{t}_waug", f"{t}_gaug", t)
        # both updates in the backward only when one lr serves both (one group's, as a rule);
        # otherwise both gradients go to the optimizer, which updates them itself
        return [*lines, f"if {t}.fused_lr is not None and {t}.fused_lr_b == {t}.fused_lr:",
                *["    " + f for f in fused], f"    {outs[1]} = None", f"    {outs[2]} = None",
                "else:", f"    dot({t}_xaug.T, {g}, {t}_gaug)", f"    {outs[1]} = {t}_gwv",
                f"    {outs[2]} = {t}_gbv"]  # fmt: skip

    def text(self, name):
        x, w, b, y = (name(i) for i in (*self.inputs, self.out))
        copy = f"[{x}, 1] <- {x}; " if self.copy_input else ""
        fwd = f"{copy}{y} = dot([{x}, 1], [{w}; {b}])  [bias folded into the GEMM]"
        parts = [self.dx_text(x, y, w)] if self.gx is not None else []
        if self.fused_lr is not None and self.fused_lr_b == self.fused_lr:
            parts.append(f"[{w}; {b}] -= lr * [{x}, 1].T @ d{y} (both at once; {self.how()})")
        else:
            parts.append(f"[d{w}; d{b}] = dot([{x}, 1].T, d{y})")
        return fwd, "; ".join(parts)


def fold_biases(prog: Any) -> None:
    """Fold the bias of every linear layer whose weight and bias both may take the fused SGD
    update (``prog.fused``) into its GEMMs, replacing its kernel in the program.

    The input's buffer: an activation or dropout that feeds only this layer writes into it;
    any other input is copied in, where that is cheaper than the bias's own passes (an input
    no wider than ``COPY_WIDTH`` times the output) or the step is bound by its calls (a small
    input)."""
    pairs: dict[int, dict[bool, Any]] = {}  # kernel -> {True: weight, False: bias}
    for k, p, is_w in prog.fused:
        pairs.setdefault(id(k), {})[is_w] = p
    count = prog.consumers()
    made_by = {k.out: k for k in prog.kernels}
    for k in list(prog.kernels):
        pair = pairs.get(id(k), {})
        if type(k) is not LinearKernel or len(pair) < 2:  # both fused: one update for both
            continue
        x_i = k.inputs[0]
        x, w, b = (prog.vals[i] for i in k.inputs)
        if not x.dtype == w.dtype == b.dtype:  # eager would promote: one array cannot
            continue
        n, width = x.shape
        out_width = k.y.shape[1]
        writer = made_by.get(x_i)
        into = isinstance(writer, WRITERS) and count[x_i] == 1 and x_i != prog.out
        if not into and not (width <= COPY_WIDTH * out_width or n * width <= SMALL_INPUT):
            continue
        folded = FoldedLinearKernel(k, augmented(pair[True], pair[False]), copy_input=not into)
        if into:
            writer.write_into(folded.xin)
        prog.replace_kernel(k, folded)
        prog.rebind(k.inputs[1], pair[True].data)
        prog.rebind(k.inputs[2], pair[False].data)


def fusable(prog: Any) -> list[tuple[LinearKernel, Any, bool]]:
    """(linear kernel, its weight or bias Parameter, True for the weight) of every
    parameter whose plain-SGD update may run inside the backward: used by one kernel only
    (no sum of gradients to wait for)."""
    by_index = {i: p for p, i in prog._params}
    out = []
    for k in prog.kernels:
        if not isinstance(k, LinearKernel):
            continue
        w = k.inputs[1]
        if (
            w in by_index
            and prog._contributions[w] == 1
            and k.gw is not None
            # gemm writes W^T, then Fortran-ordered; NumPy's out= wants C order too
            and by_index[w].data.flags.c_contiguous
        ):
            out.append((k, by_index[w], True))
        if k.has_b and k.gb is not None:
            b = k.inputs[2]
            if b in by_index and prog._contributions[b] == 1:
                out.append((k, by_index[b], False))
    return out


def plain(group: dict) -> bool:
    """Whether an SGD group takes the fused update now: no momentum, no weight decay. A
    recording folds the biases when every group is plain (not bit-identical, as the fused
    update itself is not); any other replay stays bit for bit eager's."""
    return group["momentum"] == 0.0 and group["weight_decay"] == 0.0


def set_fusion(prog: Any, groups: list[dict], allowed: bool) -> None:
    """Per step: the SGD update of each linear weight and bias inside the backward, on only
    while ``allowed`` (nothing reads gradients) and its group has no momentum and no weight
    decay (read now: a schedule or an edit may change them)."""
    if not allowed:
        for kernel, _, is_weight in prog.fused:
            kernel.set_fused_lr(is_weight, None)
        return
    entries = prog.fusion_groups
    if entries is None or entries[0] != len(groups):  # which group holds each one, once
        where = {id(p): g for g in groups for p in g["params"]}
        entries = prog.fusion_groups = (
            len(groups),
            [(k, is_weight, where.get(id(p))) for k, p, is_weight in prog.fused],
        )
    for kernel, is_weight, g in entries[1]:
        kernel.set_fused_lr(is_weight, g["lr"] if g is not None and plain(g) else None)
