"""Dropout layer: inverted dropout while training, identity in eval mode."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_fraction
from .module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode and scale the survivors by
    1/(1-p), so the expected activation is unchanged; in eval mode, the identity.

    The masks come from deltaprop's generator, so ``dp.seed`` makes them reproducible.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_fraction(p, "p", closed_low=True)  # a dropout probability: [0, 1)

    def forward(self, x: Tensor) -> Tensor:
        return ops.dropout(x, self.p, training=self.training)

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}
