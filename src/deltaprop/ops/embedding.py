"""Embedding lookup: integer indices (N, ...) pick rows of a table (num, dim) -> (N, ..., dim).

The gradient of the table is a scatter-add: row r receives the sum of the output gradients of
every position whose index is r (an index used twice gets both), so it is built with
``add.at``, which accumulates repeated indices where plain fancy assignment would keep one.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import xp_of
from ..errors import DataError, ShapeError


class Embedding(Function):
    """out = weight[indices]; only the table (the one input) gets a gradient."""

    __slots__ = ("indices", "num")

    def forward(self, w):
        self.num = w.shape[0]
        out = xp_of(w).take(w, self.indices, axis=0)
        if not self.needs[0]:
            self.indices = None
        return out

    def backward(self, gy):
        xp = xp_of(gy)
        dim = gy.shape[-1]
        gw = xp.zeros((self.num, dim), dtype=gy.dtype)
        xp.add.at(gw, self.indices.reshape(-1), gy.reshape(-1, dim))
        return gw


def _as_indices(indices, num: int, who: str, xp):
    """The indices as an integer array, checked to lie in 0..num-1 (DataError otherwise).

    Whole-number floats are accepted: a Trainer hands every feature matrix over as floats."""
    array = indices.data if isinstance(indices, Tensor) else xp.asarray(indices)
    if array.dtype.kind == "f":
        whole = xp.isfinite(array).all() and bool((xp.floor(array) == array).all())
        if not whole:
            raise DataError(f"{who}: expected integer indices, got non-integer values")
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iu":
        raise DataError(f"{who}: expected integer indices, got dtype {array.dtype}")
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= num:
            raise DataError(
                f"{who}: expected indices in 0..{num - 1} (the table has {num} rows), got "
                f"values in {low}..{high}"
            )
    return array


def embedding(indices, weight: Tensor, *, who: str = "embedding") -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer ``indices`` of any
    shape S: the result has shape S + (embedding_dim,).

    Raises DataError for indices that are not whole numbers or not in 0..num_embeddings-1.
    ``who`` names the caller in error messages (a layer passes its own description).
    """
    if weight.ndim != 2:
        raise ShapeError(
            f"{who}: weight must be (num_embeddings, embedding_dim), got shape {weight.shape}"
        )
    array = _as_indices(indices, weight.shape[0], who, xp_of(weight.data))
    return Embedding.apply(weight, indices=array)
