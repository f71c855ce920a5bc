"""The replay kernel of batch norm (``BatchNorm1d``'s op, training and eval), into buffers.

The eager op (:mod:`deltaprop.ops.norm_batch`, :mod:`deltaprop.ops.norm_common`) allocates
some ten arrays a step; this kernel writes the same arithmetic, in the same order, into
buffers allocated once, so a replay is bit-identical to the eager step. For x (N, C) (or
(N, C, L)), statistics over every axis but 1, m values per channel, ``<.>`` a mean over them:

    training  mean = <x>; xc = x - mean; var = <xc*xc>; inv = 1 / sqrt(var + eps)
              x_hat = xc * inv (in xc's buffer); y = x_hat * gamma + beta
              running_mean = running_mean * (1 - mom) + mom * mean
              running_var  = running_var  * (1 - mom) + (mom * m / (m - 1)) * var
    backward  sg = sum(g); sgx = sum(g * x_hat)
              dx = (inv * gamma) * ((g - sg / m) - x_hat * (sgx / m)); dgamma = sgx; dbeta = sg
    eval      inv = 1 / sqrt(running_var + eps); x_hat = (x - running_mean) * inv
              dx = g * (inv * gamma); dgamma = sum(g * x_hat); dbeta = sum(g)

Where order matters for the last bit:

- ``<.>`` is NumPy's ``mean``: a sum, then a true divide by the count as an ``intp`` (the
  division runs in float64 and is cast back, as ``ndarray.mean`` does), so the lines make
  that same call;
- the momentum is the layer's, read at every step (``momentum=None``: 1 / the batch count,
  which the lines advance as the layer's forward does), and the running statistics are read
  from the layer at every step too (``load_state_dict`` gives it new arrays);
- a reduction's order follows its operand's memory layout. Every buffer here is C-ordered,
  as eager's temporaries are for a C-ordered input and gradient (any buffer kernel's): the
  rule keeps the op's own code for an input recorded in another layout. A batch fed straight
  to the layer in another layout (a Fortran-ordered array) is normalized correctly but
  summed in another order than eager would: equal to rounding, not bit for bit.

Without gamma and beta the output *is* x_hat's buffer (as in eager), which the backward
reads: no later kernel may overwrite it (none does: activations fuse in place only into a
linear's output).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.normalization import BatchNorm1d
from .kernel import Kernel, empty


def norm_layers(model: Any) -> dict[int, Any]:
    """The model's batch-norm layers by the id of their running mean's array (how the rules
    find the layer of a recorded batch-norm op)."""
    return {
        id(m.running_mean.data): m
        for m in model.modules()
        if isinstance(m, BatchNorm1d) and m.running_mean is not None
    }


class BatchNormKernel(Kernel):
    """Batch norm of x (N, C) or (N, C, L) over every axis but 1 (see the module doc).

    Args:
        inputs, out, needs: value numbers of [x, gamma?, beta?] and of y; which need a
            gradient.
        x: the recorded input (its shape and dtype).
        has_gamma, has_beta: which affine parameters came as inputs.
        eps: added to the variance.
        training: batch statistics (the ``BatchNorm`` op); False: the running statistics
            (``BatchNormEval``).
        module: the BatchNorm1d layer whose running statistics the op reads and updates;
            None for a training op without running statistics.
    """

    def __init__(self, inputs, out, needs, x, has_gamma, has_beta, eps, training, module):
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        self.op = "batch_norm" if training else "batch_norm_eval"
        self.has_gamma, self.has_beta = has_gamma, has_beta
        self.eps, self.training, self.module = eps, training, module
        shape, dtype, c = x.shape, x.dtype, x.shape[1]
        self.bshape = (1, c) + (1,) * (x.ndim - 2)
        self.axes = (0,) + tuple(range(2, x.ndim))
        self.m = x.size // c
        self.count = np.intp(self.m)  # ndarray.mean divides by the count as an intp
        self.xh = empty(shape, dtype)  # x - mean, then x_hat in place
        self.tmp = empty(shape, dtype)  # xc * xc; g * x_hat; x_hat * (sgx / m)
        self.y = empty(shape, dtype) if has_gamma or has_beta else None
        self.gx = empty(shape, dtype) if needs[0] else None
        stat = [empty(self.bshape, dtype) for _ in range(7)]
        self.mean, self.var, self.inv, self.scale, self.sg, self.sgx, self.a = stat
        self.r = empty((c,), dtype)  # mom * mean (var) before it is added in
        self.owned = (True, True, True)

    @property
    def _k_gamma(self) -> int | None:
        return 1 if self.has_gamma else None

    @property
    def _k_beta(self) -> int | None:
        return (2 if self.has_gamma else 1) if self.has_beta else None

    def bind(self, t):
        names = ("xh", "tmp", "y", "gx", "mean", "var", "inv", "scale", "sg", "sgx", "a", "r")
        return {t: self, **{f"{t}_{n}": getattr(self, n) for n in names},
                f"{t}_mean0": self.mean.reshape(-1), f"{t}_var0": self.var.reshape(-1),
                f"{t}_inv0": self.inv.reshape(-1), f"{t}_sg0": self.sg.reshape(-1),
                f"{t}_sgx0": self.sgx.reshape(-1), f"{t}_count": self.count,
                f"{t}_eps": self.eps, f"{t}_axes": self.axes,
                f"{t}_bshape": self.bshape}  # fmt: skip

    def _per_channel(self, v, k: int, t: str) -> str:
        """Input k (gamma or beta, (C,)) shaped to broadcast against x, as eager reshapes it."""
        name = v(self.inputs[k])
        return name if len(self.bshape) == 2 else f"{name}.reshape({t}_bshape)"

    # --- forward ----------------------------------------------------------------------------
    def emit_forward(self, v, t):
        x = v(self.inputs[0])
        if self.training:
            lines = [f"add_reduce({x}, {t}_axes, None, {t}_mean, True)",
                     f"divide({t}_mean, {t}_count, {t}_mean, casting='unsafe')",
                     f"subtract({x}, {t}_mean, {t}_xh)",
                     f"multiply({t}_xh, {t}_xh, {t}_tmp)",
                     f"add_reduce({t}_tmp, {t}_axes, None, {t}_var, True)",
                     f"divide({t}_var, {t}_count, {t}_var, casting='unsafe')",
                     f"add({t}_var, {t}_eps, {t}_inv)", f"np.sqrt({t}_inv, {t}_inv)",
                     f"divide(1.0, {t}_inv, {t}_inv)",
                     f"multiply({t}_xh, {t}_inv, {t}_xh)"]  # fmt: skip
            if self.module is not None:
                lines += self._running_update(t)
        else:
            mean = f"{t}.module.running_mean.data"
            if len(self.bshape) > 2:
                mean += f".reshape({t}_bshape)"
            lines = [f"add({t}.module.running_var.data, {t}_eps, {t}_inv0)",
                     f"np.sqrt({t}_inv0, {t}_inv0)", f"divide(1.0, {t}_inv0, {t}_inv0)",
                     f"subtract({x}, {mean}, {t}_xh)",
                     f"multiply({t}_xh, {t}_inv, {t}_xh)"]  # fmt: skip
        y = f"{t}_y"
        kg, kb = self._k_gamma, self._k_beta
        if kg is not None:
            lines.append(f"multiply({t}_xh, {self._per_channel(v, kg, t)}, {y})")
            if kb is not None:
                lines.append(f"add({y}, {self._per_channel(v, kb, t)}, {y})")
        elif kb is not None:
            lines.append(f"add({t}_xh, {self._per_channel(v, kb, t)}, {y})")
        else:
            y = f"{t}_xh"  # eager's output is x_hat itself
        if not self.training and self.needs[0] and kg is not None:
            # the gradient's per-channel factor, made in the forward as eager's is
            lines.append(f"multiply({t}_inv, {self._per_channel(v, kg, t)}, {t}_scale)")
        return [*lines, f"{v(self.out)} = {y}"]

    def _running_update(self, t: str) -> list[str]:
        """The layer's forward (count the batch; momentum=None: 1 / count) and the op's
        update of the running statistics, in place, in eager's order."""
        m = self.m
        return [f"{t}_layer = {t}.module",
                f"{t}_mom = float({t}_layer.count_batch())",
                f"{t}_rm = {t}_layer.running_mean.data",
                f"{t}_rv = {t}_layer.running_var.data",
                f"multiply({t}_rm, 1.0 - {t}_mom, {t}_rm)",
                f"add({t}_rm, multiply({t}_mom, {t}_mean0, {t}_r), {t}_rm)",
                f"multiply({t}_rv, 1.0 - {t}_mom, {t}_rv)",
                f"add({t}_rv, multiply({t}_mom * {m} / ({m} - 1), {t}_var0, {t}_r), "
                f"{t}_rv)"]  # fmt: skip

    # --- backward ---------------------------------------------------------------------------
    def emit_backward(self, v, g, outs, may_write, t):
        kg, kb = self._k_gamma, self._k_beta
        want_x = outs[0] is not None
        want_g = kg is not None and outs[kg] is not None
        want_b = kb is not None and outs[kb] is not None
        gx = g if may_write else f"{t}_gx"
        if not self.training:
            return self._eval_backward(g, outs, gx, want_x, want_g, want_b, t)
        lines = []
        if want_x or want_b:
            lines.append(f"add_reduce({g}, {t}_axes, None, {t}_sg, True)")
        if want_x or want_g:
            lines += [f"multiply({g}, {t}_xh, {t}_tmp)",
                      f"add_reduce({t}_tmp, {t}_axes, None, {t}_sgx, True)"]  # fmt: skip
        if want_x:
            scale = f"{t}_inv"
            if kg is not None:
                lines.append(f"multiply({t}_inv, {self._per_channel(v, kg, t)}, {t}_scale)")
                scale = f"{t}_scale"
            m = self.m
            lines += [f"subtract({g}, divide({t}_sg, {m}, {t}_a), {gx})",
                      f"multiply({t}_xh, divide({t}_sgx, {m}, {t}_a), {t}_tmp)",
                      f"subtract({gx}, {t}_tmp, {gx})",
                      f"{outs[0]} = multiply({scale}, {gx}, {gx})"]  # fmt: skip
        if want_g:
            lines.append(f"{outs[kg]} = {t}_sgx0")
        if want_b:
            lines.append(f"{outs[kb]} = {t}_sg0")
        return lines

    def _eval_backward(self, g, outs, gx, want_x, want_g, want_b, t) -> list[str]:
        lines = []  # the sums first: dx may overwrite g
        if want_g:  # sums without kept axes, as eager's: (C,) straight into the views
            lines += [f"multiply({g}, {t}_xh, {t}_tmp)",
                      f"{outs[self._k_gamma]} = add_reduce({t}_tmp, {t}_axes, None, "
                      f"{t}_sgx0)"]  # fmt: skip
        if want_b:
            lines.append(f"{outs[self._k_beta]} = add_reduce({g}, {t}_axes, None, {t}_sg0)")
        if want_x:
            scale = f"{t}_scale" if self.has_gamma else f"{t}_inv"
            lines.append(f"{outs[0]} = multiply({g}, {scale}, {gx})")
        return lines

    def text(self, name):
        x, y = name(self.inputs[0]), name(self.out)
        affine = []
        if self.has_gamma:
            affine.append(f"* {name(self.inputs[self._k_gamma])}")
        if self.has_beta:
            affine.append(f"+ {name(self.inputs[self._k_beta])}")
        tail = (" " + " ".join(affine)) if affine else ""
        if self.training:
            updated = "; running stats updated" if self.module is not None else ""
            stats = "batch mean, var" + updated
        else:
            stats = "running mean, var"
        fwd = f"{y} = ({x} - mean) / sqrt(var + eps){tail}  [{stats}; buffers]"
        return fwd, f"grad of batch_norm -> {self._grads(name)}  [buffers]"


def recordable(fn: Any, x: np.ndarray, module: Any, attrs: dict) -> bool:
    """Whether :class:`BatchNormKernel` replays this recorded op bit for bit: x (N, C) or
    (N, C, L) in C order, float32/float64, running statistics (if any) in x's dtype, and a
    training op's momentum the one its layer gives (not a functional call with its own)."""
    if type(x) is not np.ndarray or x.ndim not in (2, 3) or not x.flags.c_contiguous:
        return False
    if x.dtype not in (np.float32, np.float64):
        return False
    running = attrs.get("running")
    if running is not None and any(a.dtype != x.dtype for a in running):
        return False
    if type(fn).__name__ == "BatchNorm" and module is not None:
        mom = module.momentum
        if module.track_running_stats and mom is None:
            mom = 1.0 / float(module.num_batches_tracked.data)
        if attrs.get("momentum") != (0.0 if mom is None else float(mom)):
            return False
    return True
