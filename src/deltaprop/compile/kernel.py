"""What every replay kernel shares: the value table it reads and writes, and how it describes
itself.

A recording is a list of kernels over numbered *values* (the batch ``x``, the targets ``y``,
parameters, constants and each op's output). During a replay ``vals[i]`` holds value i's
array and ``grads[i]`` its gradient. A kernel's ``forward(vals)`` writes ``vals[self.out]``;
its ``backward(vals, gy, may_write)`` returns one gradient per input (None where no gradient
flows). ``may_write`` says that ``gy`` belongs to this kernel alone, so it may be overwritten
(an in-place ReLU mask); ``owned[i]`` says that the i-th returned array is a buffer nobody
else holds, which the next kernel may overwrite in turn.
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
