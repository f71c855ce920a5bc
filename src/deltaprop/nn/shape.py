"""Shape-only layers: Flatten and Identity (no parameters)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor, as_tensor
from ..errors import ConfigError
from .module import Module


class Flatten(Module):
    """Merge the axes from ``start_axis`` on: (N, C, H, W) -> (N, C*H*W) for start_axis=1."""

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        if isinstance(start_axis, bool) or not isinstance(start_axis, (int, np.integer)):
            raise ConfigError(f"start_axis: expected an integer, got {start_axis!r}")
        self.start_axis = int(start_axis)

    def forward(self, x: Tensor) -> Tensor:
        return ops.flatten(x, self.start_axis)

    def get_config(self) -> dict[str, Any]:
        return {"start_axis": self.start_axis}


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for "no activation")."""

    def forward(self, x: Tensor) -> Tensor:
        return as_tensor(x)
