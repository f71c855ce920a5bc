"""Shape-only layers: Flatten and Identity (no parameters)."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.tensor import Tensor, as_tensor
from ..checks import check_int
from .module import Module


class Flatten(Module):
    """Merge the axes from ``start_axis`` on: (N, C, H, W) -> (N, C*H*W) for start_axis=1."""

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        self.start_axis = check_int(start_axis, "start_axis", minimum=None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_axis)

    def get_config(self) -> dict[str, Any]:
        return {"start_axis": self.start_axis}


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for "no activation")."""

    def forward(self, x: Tensor) -> Tensor:
        return as_tensor(x)
