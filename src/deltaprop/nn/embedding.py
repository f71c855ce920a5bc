"""Embedding: a learned vector per category (the math is in :mod:`deltaprop.ops.embedding`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_int
from .init import resolve as resolve_initializer
from .linear import resolve_dtype
from .module import Module, Parameter


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``: integer indices of shape
    (N, ...) -> (N, ..., embedding_dim), as ``torch.nn.Embedding``.

    For categorical columns: codes 0..k-1 of a column pick that category's learned vector
    (Flatten the result to feed a Linear). Indices must be whole numbers in
    0..num_embeddings-1; floats that are whole (a Trainer's feature matrix) are accepted,
    anything else is a DataError naming the layer.

    Args:
        num_embeddings: the number of categories (rows of ``weight``).
        embedding_dim: the size of each vector (columns of ``weight``).
        init: the initializer of ``weight`` (num_embeddings, embedding_dim); ``"normal"``,
            N(0, 1), is PyTorch's default. Fan-based ones use fan_in = embedding_dim and
            fan_out = num_embeddings, as PyTorch reads this shape.
        dtype: "float32" or "float64" (the default float dtype when None).
        generator: a ``numpy.random.Generator`` for the initial values (not saved).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        init: str = "normal",
        dtype=None,
        generator: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim")
        fill = resolve_initializer(init, "init")
        self.init = init
        dtype_name = resolve_dtype(dtype)
        shape = (self.num_embeddings, self.embedding_dim)
        fans = (self.embedding_dim, self.num_embeddings)
        self.weight = Parameter(
            fill(shape, fans=fans, generator=generator, dtype=dtype_name), dtype=dtype_name
        )
        object.__setattr__(self, "_who", f"Embedding({self.num_embeddings}, {self.embedding_dim})")

    def forward(self, indices) -> Tensor:
        return ops.embedding(indices, self.weight, who=self._who)

    def get_config(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "init": self.init,
            "dtype": self.weight.dtype.name,
        }
