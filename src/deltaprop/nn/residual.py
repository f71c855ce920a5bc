"""Residual: a skip connection, ``out = block(x) + shortcut(x)``.

The addition is the whole idea: its gradient reaches x unchanged through the shortcut, so deep
stacks of blocks still pass a signal back to their first layers (He et al., 2016).
"""

from __future__ import annotations

from typing import Any

from ..autograd.tensor import Tensor, as_tensor
from ..errors import ConfigError, ShapeError
from .module import Module


class Residual(Module):
    """``out = block(x) + shortcut(x)``, the shortcut the identity when None.

    The block must keep x's shape when the shortcut is the identity; when it changes the shape
    (more features, more channels, a stride), give a projection shortcut that maps x to the
    block's output shape: ``Residual(block, shortcut=Linear(16, 32))`` for features,
    ``Residual(block, shortcut=Conv2d(16, 32, 1, stride=2))`` for images. Shapes must match
    exactly (no broadcasting): a mismatch is a ShapeError naming both.

    ``block`` and ``shortcut`` are sub-modules, so their parameters are named
    ``block.0.weight``, ``shortcut.weight``, ... in ``named_parameters`` and ``state_dict``.
    They are constructor arguments that are modules (:attr:`module_args`), not JSON values:
    ``get_config()`` is empty, and a model description lists them as nested layers.
    """

    #: The constructor arguments that are Modules (or None), in order: a model description
    #: (io.architecture) stores them as nested layer trees and passes them back when building.
    module_args = ("block", "shortcut")

    def __init__(self, block: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise ConfigError(f"block: expected a Module, got {type(block).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise ConfigError(f"shortcut: expected a Module or None, got {type(shortcut).__name__}")
        self.block = block
        if shortcut is None:
            object.__setattr__(self, "shortcut", None)
        else:
            self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):  # an array: the model's float dtype, as Linear does
            x = as_tensor(x, like=next(iter(self.parameters()), None))
        y = self.block(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if y.shape != s.shape:
            raise ShapeError(self._mismatch(x.shape, y.shape, s.shape))
        return y + s

    def _mismatch(self, x_shape, y_shape, s_shape) -> str:
        if self.shortcut is None:
            return (
                f"Residual: the block maps {x_shape} to {y_shape}, but the identity shortcut "
                f"keeps {s_shape}; give a projection shortcut that maps x to {y_shape}, e.g. "
                f"{_projection_hint(x_shape, y_shape)}"
            )
        return (
            f"Residual: the block maps {x_shape} to {y_shape}, but the shortcut "
            f"{type(self.shortcut).__name__} maps it to {s_shape}; they must be equal"
        )

    def get_config(self) -> dict[str, Any]:
        return {}

    def extra_repr(self) -> str:
        return "" if self.shortcut is not None else "shortcut=identity"


def _projection_hint(x_shape, y_shape) -> str:
    if len(x_shape) == 4 and len(y_shape) == 4:
        stride = x_shape[2] // y_shape[2] if y_shape[2] else 1
        step = f", stride={stride}" if stride > 1 else ""
        return f"Residual(block, shortcut=Conv2d({x_shape[1]}, {y_shape[1]}, 1{step})) (1x1 conv)"
    return f"Residual(block, shortcut=Linear({x_shape[-1]}, {y_shape[-1]}))"
