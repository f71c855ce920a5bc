"""Replay kernels of the dense path: linear, relu, tanh, sigmoid (dropout: compile/dropout.py).

Each does the eager op's arithmetic in the same order (so a replay is bit-identical to the
eager step) but into buffers allocated once, with NumPy's ``out=``. Two fusions live here:

- activation in place: when a linear's output feeds only an activation, the activation
  overwrites the GEMM's output buffer (relu, tanh, sigmoid need their output or a mask for
  backward, never their input, and linear's backward needs its input, never its output);
- the SGD update straight into the weights: with plain SGD and nothing reading the gradient
  (no clipping, penalty or weight decay), linear's backward writes ``W <- W - lr x^T g``
  without storing the weight gradient. Where NumPy and SciPy share one BLAS, one call does
  it: ``sgemm``/``dgemm`` with alpha = -lr and beta = 1 on the weight matrix itself.
  Otherwise NumPy does it in two: lr scales the *smaller* operand of the product (x or g,
  N rows each, against a weight of in x out), then ``W -= x^T (lr g)``: one pass over the
  weights instead of eager's two (``lr * dW`` into a scratch, then ``W -= ...``). Either
  rounds ``lr x^T g`` differently from eager's ``lr * (x^T g)``, so this one fusion is not
  bit-identical to the eager step (within 1e-6 relative per step).
"""

from __future__ import annotations

import numpy as np

from ..ops.linalg import dx_by_transpose
from .kernel import Kernel, empty


def _blas_gemm(dtype):
    """SciPy's BLAS ``?gemm`` for float32/float64; None when SciPy's BLAS is missing or is not
    the library NumPy's matrix products use (see :func:`_one_blas`)."""
    try:
        from scipy.linalg import blas
    except ImportError:  # pragma: no cover - SciPy comes with scikit-learn
        return None
    if not _one_blas():
        return None
    return blas.sgemm if dtype == np.float32 else blas.dgemm if dtype == np.float64 else None


_ONE_BLAS: list[bool] = []


def _one_blas() -> bool:
    """Whether NumPy and SciPy share one BLAS library. The pip wheels each bundle their own
    OpenBLAS, each with a thread per core that spins after every call: interleaving the two
    (NumPy's GEMMs, SciPy's fused update) left four threads fighting for two cores and made a
    compiled 784-256-128-10 epoch 12x slower than eager (measured). The fusion is only worth
    it with one library."""
    if not _ONE_BLAS:
        try:
            import scipy.linalg.blas  # noqa: F401  (loads SciPy's BLAS, so it is listed)
            from threadpoolctl import threadpool_info

            libraries = {i["filepath"] for i in threadpool_info() if i["user_api"] == "blas"}
            _ONE_BLAS.append(len(libraries) == 1)
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _ONE_BLAS.append(False)
    return _ONE_BLAS[0]


class LinearKernel(Kernel):
    """y = x @ W (+ b) for 2-D x (N, in), W (in, out), b (out,): ``np.dot(x, W, out=y)`` then
    ``y += b`` in the same buffer. Backward: dx = g W^T, dW = x^T g, db = sum_rows g."""

    op = "linear"

    def __init__(self, inputs, out, needs, x_shape, w_shape, dtype) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        n, (k, m) = x_shape[0], w_shape
        self.y = empty((n, m), dtype)
        self.gx = empty((n, k), dtype) if needs[0] else None
        # dx as (W g^T)^T where that is faster (ops.linalg.dx_by_transpose): its (k, n) buffer
        by_t = needs[0] and dx_by_transpose(n, k, m, np.dtype(dtype))
        self.gxt = empty((k, n), dtype) if by_t else None
        self.gw = empty((k, m), dtype) if needs[1] else None
        self.has_b = len(inputs) > 2
        self.gb = empty((m,), dtype) if self.has_b and needs[2] else None
        self.owned = (True, True, True)
        # set by the program: the weight's (bias's) SGD update may run in the backward, and
        # per step, its lr when it does
        self.fusable = self.fusable_b = False
        self.fused_lr = self.fused_lr_b = None
        self.gemm = _blas_gemm(np.dtype(dtype))
        # the fusion without that gemm: lr times the smaller operand of x^T g, in a buffer
        self.scale_x = k < m
        self._scaled_shape, self._dtype = ((n, k) if self.scale_x else (n, m)), dtype

    def set_fusable(self, is_weight: bool) -> None:
        """The weight's (or bias's) update may run in the backward (set by the program)."""
        if is_weight:
            self.fusable = True
        else:
            self.fusable_b = True

    def set_fused_lr(self, is_weight: bool, lr: float | None) -> None:
        """This step's lr of the weight's (bias's) update in the backward; None: not now."""
        if is_weight:
            self.fused_lr = lr
        else:
            self.fused_lr_b = lr

    def bind(self, t):
        scaled = empty(self._scaled_shape, self._dtype) if self.fusable else None
        return {f"{t}_y": self.y, f"{t}_gx": self.gx, f"{t}_gw": self.gw, f"{t}_gb": self.gb,
                t: self, f"{t}_gemm": self.gemm, f"{t}_scaled": scaled,
                f"{t}_gxt": self.gxt}  # fmt: skip

    def emit_forward(self, v, t):
        x, w, y = v(self.inputs[0]), v(self.inputs[1]), v(self.out)
        lines = [f"{y} = dot({x}, {w}, {t}_y)"]
        if self.has_b:  # the bias lands in the GEMM's own output buffer
            lines.append(f"add({y}, {v(self.inputs[2])}, {y})")
        return lines

    def emit_backward(self, v, g, outs, may_write, t):
        x, w = v(self.inputs[0]), v(self.inputs[1])
        lines = self.dx_lines(g, w, outs[0], t)
        if outs[1] is not None:
            gw = f"{outs[1]} = dot({x}.T, {g}, {t}_gw)"
            if not self.fusable:
                return [*lines, gw, *self._bias_grad(v, g, outs, t)]
            fused = self.fused_update(x, g, w, f"{t}_gw", t)
            lines += [f"if {t}.fused_lr is not None:", *["    " + f for f in fused],
                      f"    {outs[1]} = None", "else:", f"    {gw}"]  # fmt: skip
        return [*lines, *self._bias_grad(v, g, outs, t)]

    def dx_lines(self, g: str, w: str, out: str | None, t: str) -> list[str]:
        """Lines of ``out = g W^T`` into the gx buffer (none when x needs no gradient)."""
        if out is None:
            return []
        if self.gxt is None:
            return [f"{out} = dot({g}, {w}.T, {t}_gx)"]
        return [f"copyto({t}_gx, dot({w}, {g}.T, {t}_gxt).T)", f"{out} = {t}_gx"]

    def dx_text(self, x: str, y: str, w: str) -> str:
        """The dx line of ``describe()``."""
        if self.gxt is None:
            return f"d{x} = dot(d{y}, {w}.T)"
        return f"d{x} = dot({w}, d{y}.T).T  [faster for {self.gxt.shape[1]} rows]"

    def fused_update(self, x: str, g: str, w: str, scratch: str, t: str) -> list[str]:
        """Lines of ``w -= lr x^T g`` (``scratch``: a buffer shaped like ``w``)."""
        if self.gemm is not None:  # W^T is Fortran-ordered (out, in): W <- W - lr g^T x
            return [f"{t}_gemm(-{t}.fused_lr, {g}.T, {x}.T, 1.0, {w}.T, trans_b=1, "
                    "overwrite_c=1)"]  # fmt: skip
        if self.scale_x:
            return [f"multiply({x}, {t}.fused_lr, {t}_scaled)",
                    f"subtract({w}, dot({t}_scaled.T, {g}, {scratch}), {w})"]  # fmt: skip
        return [f"multiply({g}, {t}.fused_lr, {t}_scaled)",
                f"subtract({w}, dot({x}.T, {t}_scaled, {scratch}), {w})"]  # fmt: skip

    def how(self) -> str:
        """How the fused update runs, for ``describe()``."""
        if self.gemm is not None:
            return "one gemm, alpha=-lr, beta=1"
        return f"lr scales {'x' if self.scale_x else 'the gradient'} first"

    def _bias_grad(self, v, g, outs, t) -> list[str]:
        if len(outs) < 3 or outs[2] is None:
            return []
        gb = f"{outs[2]} = add_reduce({g}, 0, None, {t}_gb)"
        if not self.fusable_b:
            return [gb]
        b = v(self.inputs[2])
        # SGD.update's own arithmetic (b -= lr * gb), so this one is bit for bit eager's
        return [f"if {t}.fused_lr_b is not None:",
                f"    subtract({b}, multiply(add_reduce({g}, 0, None, {t}_gb), "
                f"{t}.fused_lr_b, {t}_gb), {b})",
                f"    {outs[2]} = None", "else:", f"    {gb}"]  # fmt: skip

    def maybe_none(self, j):
        # the weight's (bias's), when its update ran in the backward
        return (j == 1 and self.fusable) or (j == 2 and self.fusable_b)

    def text(self, name):
        x, w = name(self.inputs[0]), name(self.inputs[1])
        y = name(self.out)
        bias = f"; {y} += {name(self.inputs[2])}" if self.has_b else ""
        fwd = f"{y} = dot({x}, {w}){bias}  [{_shape(self.y)} buffer]"
        parts = []
        if self.gx is not None:
            parts.append(self.dx_text(x, y, w))
        parts.append(f"d{w} = dot({x}.T, d{y})" if self.fused_lr is None else
                     f"{w} -= lr * {x}.T @ d{y} ({self.how()})")  # fmt: skip
        if self.gb is not None:
            b = name(self.inputs[2])
            parts.append(f"d{b} = sum_rows(d{y})" if self.fused_lr_b is None else
                         f"{b} -= lr * sum_rows(d{y})")  # fmt: skip
        return fwd, "; ".join(parts)


class _Activation(Kernel):
    """An elementwise activation; ``inplace`` (set by the fusion pass) writes its output into
    its input's buffer."""

    def __init__(self, inputs, out, needs, like, inplace: bool) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        self.inplace = inplace
        # The recorded output's memory layout (a conv's output is channels-major): the next
        # ops then sum in the same order as eager, so the replay stays bit-identical.
        self.y = None if inplace else np.empty_like(like)
        self.gx = np.empty_like(like)
        self.owned = (True,)
        self.into = None  # the next layer's [x, 1], to write the output into (fusion.py)

    def write_into(self, buffer) -> None:
        """Write the output into ``buffer`` (the next linear's ``[x, 1]``: compile/fusion.py)."""
        self.into, self.inplace, self.y = buffer, False, None

    def bind(self, t):
        names = ("y", "gx", "mask", "t", "into")
        return {f"{t}_{name}": getattr(self, name, None) for name in names}

    def _target(self, v, t) -> str:
        if self.into is not None:
            return f"{t}_into"
        return v(self.inputs[0]) if self.inplace else f"{t}_y"

    def _grad_buffer(self, g, may_write, t) -> str:
        return g if may_write else f"{t}_gx"

    def text(self, name):
        x, y = name(self.inputs[0]), name(self.out)
        where = "buffer"
        if self.into is not None:
            where = "into the next layer's [x, 1]"
        elif self.inplace:
            where = f"in place in {x}'s buffer"
        return f"{y} = {self.op}({x})  [{where}]", f"d{x} = d{y} * " + self.rule.format(y=y)


class ReLUKernel(_Activation):
    """y = x * (x > 0) (eager's form, so -0.0 stays -0.0); backward dx = dy * mask. The
    mask holds 1.0 / 0.0: x * 1.0 and x * True are the same number."""

    op, rule = "relu", "({y} > 0)"

    def __init__(self, inputs, out, needs, like, inplace) -> None:
        super().__init__(inputs, out, needs, like, inplace)
        # a float mask (1.0 / 0.0): the comparison casts into it once, and both products
        # then run NumPy's plain float loops (a bool operand is cast in a buffered loop
        # each time: at 128x256 float32 the three calls took 16.2 µs against 12.6)
        self.mask = np.empty_like(like)

    def emit_forward(self, v, t):
        x = v(self.inputs[0])
        return [f"greater({x}, 0, {t}_mask)",
                f"{v(self.out)} = multiply({x}, {t}_mask, {self._target(v, t)})"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        return [f"{outs[0]} = multiply({g}, {t}_mask, {self._grad_buffer(g, may_write, t)})"]


class TanhKernel(_Activation):
    """y = tanh(x); backward dx = dy * (1 - y*y)."""

    op, rule = "tanh", "(1 - {y}*{y})"

    def __init__(self, inputs, out, needs, like, inplace) -> None:
        super().__init__(inputs, out, needs, like, inplace)
        self.t = np.empty_like(like)

    def emit_forward(self, v, t):
        return [f"{v(self.out)} = tanh({v(self.inputs[0])}, {self._target(v, t)})"]

    def emit_backward(self, v, g, outs, may_write, t):
        y, buf = v(self.out), self._grad_buffer(g, may_write, t)
        return [f"multiply({y}, {y}, {t}_t)", f"subtract(1, {t}_t, {t}_t)",
                f"{outs[0]} = multiply({g}, {t}_t, {buf})"]  # fmt: skip


class SigmoidKernel(_Activation):
    """y = 0.5 (1 + tanh(x/2)) (eager's overflow-free form); backward dx = dy y (1 - y)."""

    op, rule = "sigmoid", "{y} * (1 - {y})"

    def __init__(self, inputs, out, needs, like, inplace) -> None:
        super().__init__(inputs, out, needs, like, inplace)
        self.t = np.empty_like(like)

    def emit_forward(self, v, t):
        y = self._target(v, t)
        return [f"multiply({v(self.inputs[0])}, 0.5, {y})", f"tanh({y}, {y})",
                f"add({y}, 1, {y})", f"{v(self.out)} = multiply({y}, 0.5, {y})"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        y = v(self.out)
        return [f"subtract(1, {y}, {t}_t)",
                f"{outs[0]} = multiply({g}, {y}, {self._grad_buffer(g, may_write, t)})",
                f"multiply({outs[0]}, {t}_t, {outs[0]})"]  # fmt: skip


def _shape(a) -> str:
    return "x".join(str(n) for n in a.shape)
