"""The replay kernel of inverted dropout (see :class:`DropoutKernel`); in lanes, each lane reads
its rows of one draw for the whole batch (:mod:`deltaprop.compile.lanes`)."""

from __future__ import annotations

import numpy as np

from .kernel import Kernel, empty


class DropoutKernel(Kernel):
    """Inverted dropout: uniform numbers from deltaprop's generator (read at every step, so
    ``dp.seed`` and a restored checkpoint are followed: the same stream as eager), keep where
    >= p, scale survivors by 1/(1-p); backward dx = dy * mask.

    The comparison writes 1.0 / 0.0 straight into the mask (in the draws' buffer when the
    dtypes agree), which is then scaled in place: eager's ``keep * scale`` casts the boolean
    array in a slow buffered loop and needs two more arrays; 1.0 * scale and 0.0 * scale are
    the same numbers either way (measured at 128x256 float32: ~84 -> ~73 µs for draw, mask and
    product)."""

    op = "dropout"

    def __init__(self, inputs, out, needs, like, p: float, generator, predrawn=False) -> None:
        self.inputs, self.out, self.needs = list(inputs), out, tuple(needs)
        shape, dtype = like.shape, like.dtype
        self.p, self.generator = p, generator
        dtype = np.dtype(dtype)
        self.draw_dtype = np.float64 if dtype == np.float64 else np.float32
        self.scale = dtype.type(1.0 / (1.0 - p))
        self.r = empty(shape, self.draw_dtype)
        # the mask in the draws' own buffer where their dtypes agree (float32, float64)
        self.mask = self.r if self.draw_dtype == dtype else empty(shape, dtype)
        self.y = np.empty_like(like)
        self.gx = np.empty_like(like)
        self.owned = (True,)
        # in a lane: ``r`` is the lane's rows of one draw for the whole batch, made before
        # the lanes start (compile/lanes.py), so the lines draw nothing themselves
        self.predrawn = predrawn
        self.into = None  # the next layer's [x, 1], to write the output into (fusion.py)

    def write_into(self, buffer) -> None:
        """Write the output into ``buffer`` (the next linear's ``[x, 1]``: compile/fusion.py)."""
        self.into, self.y = buffer, None

    def bind(self, t):
        return {t: self, f"{t}_r": self.r, f"{t}_mask": self.mask,
                f"{t}_y": self.y, f"{t}_gx": self.gx, f"{t}_dtype": self.draw_dtype,
                f"{t}_scale": self.scale, f"{t}_p": self.p, f"{t}_into": self.into}  # fmt: skip

    def emit_forward(self, v, t):
        target = f"{t}_y" if self.into is None else f"{t}_into"
        draw = [] if self.predrawn else [
            f"({t}.generator if {t}.generator is not None else rng()).random("
            f"dtype={t}_dtype, out={t}_r)"]  # fmt: skip
        return [*draw, f"greater_equal({t}_r, {t}_p, {t}_mask)",
                f"multiply({t}_mask, {t}_scale, {t}_mask)",
                f"{v(self.out)} = multiply({v(self.inputs[0])}, {t}_mask, {target})"]  # fmt: skip

    def emit_backward(self, v, g, outs, may_write, t):
        buf = g if may_write else f"{t}_gx"
        return [f"{outs[0]} = multiply({g}, {t}_mask, {buf})"]

    def text(self, name):
        x, y = name(self.inputs[0]), name(self.out)
        where = "buffer" if self.into is None else "into the next layer's [x, 1]"
        return (
            f"{y} = {x} * mask, mask = (uniform >= {self.p}) / {1 - self.p:g}  [{where}]",
            f"d{x} = d{y} * mask",
        )
