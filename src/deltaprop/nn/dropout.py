"""Dropout layer: inverted dropout while training, identity in eval mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..errors import ConfigError
from .module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode and scale the survivors by
    1/(1-p), so the expected activation is unchanged; in eval mode, the identity.

    The masks come from deltaprop's generator, so ``dp.seed`` makes them reproducible.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if (
            isinstance(p, bool)
            or not isinstance(p, (int, float, np.integer, np.floating))
            or not 0.0 <= p < 1.0
        ):
            raise ConfigError(f"p: expected a dropout probability in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        return ops.dropout(x, self.p, training=self.training)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
