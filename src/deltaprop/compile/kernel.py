"""What every replay kernel shares: the value table it reads and writes, how it writes its
own Python source, and how it describes itself.

A recording is a list of kernels over numbered *values* (the batch ``x``, the targets ``y``,
parameters, constants and each op's output). The dense kernels (linear, activations,
dropout, the two common losses) *write source*: ``emit_forward`` gives the lines of NumPy
calls that compute their output, ``emit_backward`` those that compute their inputs'
gradients, over names the program hands them (``v(i)`` for value i, ``g`` for the output's
gradient, ``outs[j]`` for input j's) and buffers of their own, which ``bind(t)`` names with
the kernel's prefix ``t``. :mod:`~deltaprop.compile.source` strings every kernel's lines into
one forward and one backward function: the replay is then plain NumPy code, the code a
careful person writes by hand, with no per-kernel call.

Other kernels (the op's own code, :mod:`~deltaprop.compile.generic`) are called instead:
``forward(vals)`` writes ``vals[self.out]``, ``backward(vals, gy, may_write)`` returns one
gradient per input (None where none flows). ``may_write`` says that ``gy`` belongs to this
kernel alone, so it may be overwritten (an in-place ReLU mask); ``owned[i]`` says that the
i-th gradient is a buffer nobody else holds, which the next kernel may overwrite in turn.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Kernel:
    """One op of a recording (see the module doc)."""

    op = "op"
    inputs: list[int]
    out: int
    needs: tuple[bool, ...]
    owned: tuple[bool, ...] = ()

    def forward(self, vals: list) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, vals: list, gy: Any, may_write: bool) -> tuple:  # pragma: no cover
        raise NotImplementedError

    # --- source (see the module doc); None: the program calls the methods above -------------
    def bind(self, t: str) -> dict[str, Any]:
        """The names this kernel's lines use for its own buffers, prefixed with ``t``."""
        return {}

    def emit_forward(self, v, t: str) -> list[str] | None:
        """Lines that set ``v(self.out)`` from the inputs ``v(i)``."""
        return None

    def emit_backward(self, v, g: str, outs: list, may_write: bool, t: str) -> list[str] | None:
        """Lines that set ``outs[j]`` to input j's gradient (``outs[j]`` None: not wanted)."""
        return None

    def maybe_none(self, j: int) -> bool:
        """Whether input j's gradient may come back None at run time (a called kernel's may)."""
        return type(self).emit_backward is Kernel.emit_backward

    def text(self, name) -> tuple[str, str | None]:
        """(forward line, backward line or None) for ``describe()``; ``name(i)`` names value
        i, e.g. ``h1``."""
        args = ", ".join(name(i) for i in self.inputs)
        return f"{name(self.out)} = {self.op}({args})", f"grad of {self.op} -> {self._grads(name)}"

    def _grads(self, name) -> str:
        flows = [f"d{name(i)}" for i, need in zip(self.inputs, self.needs) if need]
        return ", ".join(flows) if flows else "(none)"


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A buffer allocated once for the whole life of a recording."""
    return np.empty(shape, dtype=dtype)
