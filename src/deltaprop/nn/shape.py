"""Shape-only layers (no parameters): Flatten, Unflatten, Upsample (nearest, 2x) and Identity."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_int
from ..errors import ConfigError, ShapeError
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


class Unflatten(Module):
    """(N, prod(shape)) -> (N, *shape), e.g. ``Unflatten((32, 4, 4))``."""

    def __init__(self, shape: Any) -> None:
        super().__init__()
        if not isinstance(shape, (list, tuple)) or not shape:
            raise ConfigError(f"shape: expected a list of sizes, got {shape!r}")
        self.shape = tuple(check_int(s, "shape") for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        return ops.reshape(x, (x.shape[0], *self.shape))

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}


class Upsample(Module):
    """Nearest-neighbour upsampling by 2: (N, C, H, W) -> (N, C, 2H, 2W), each pixel a 2x2
    block. Written with existing differentiable ops (a reshape and a broadcast multiply, whose
    backward sums the 2x2 block back onto its pixel), so it has no backward code of its own."""

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if x.ndim != 4:
            raise ShapeError(f"Upsample: expected (N, C, H, W), got shape {x.shape}")
        n, c, h, w = x.shape
        ones = Tensor(xp_of(x.data).ones((1, 1, 1, 2, 1, 2), dtype=x.data.dtype))
        y = ops.reshape(x, (n, c, h, 1, w, 1)) * ones
        return ops.reshape(y, (n, c, 2 * h, 2 * w))
