"""The batch a :class:`~deltaprop.compile.step.CompiledStep` is called with, checked once.

``as_batch(xb, yb, dtype)``: two NumPy arrays with a batch axis of the same length, floats in
the model's dtype (Tensors, lists and other dtypes are converted; anything else is a
DataError naming ``xb`` or ``yb``). A batch the last recording fits skips this altogether (its
generated guard, :mod:`deltaprop.compile.source`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..errors import DataError, ShapeError


def as_batch(xb: Any, yb: Any, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(xb, yb)`` as arrays: ``xb`` (N, ...) features, ``yb`` (N, ...) targets (see the
    module doc)."""
    # the common case first: two arrays already of the model's dtype (or integer labels)
    if (
        type(xb) is np.ndarray
        and type(yb) is np.ndarray
        and xb.dtype == dtype
        and (yb.dtype == dtype or yb.dtype.kind in "iub")
        and xb.ndim
        and yb.ndim
        and xb.shape[0] == yb.shape[0]
    ):
        return xb, yb
    arrays = []
    for name, a in (("xb", xb), ("yb", yb)):
        if isinstance(a, Tensor):
            a = a.data
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name}: expected a NumPy array, got {type(a).__name__}") from exc
        if a.dtype.kind not in "fiub" or a.ndim == 0:
            raise DataError(f"{name}: expected an array of numbers with a batch axis, got "
                            f"dtype {a.dtype}, shape {a.shape}")  # fmt: skip
        arrays.append(a.astype(dtype) if a.dtype.kind == "f" and a.dtype != dtype else a)
    if arrays[0].shape[0] != arrays[1].shape[0]:
        raise ShapeError(
            f"xb, yb: expected the same number of rows, got {arrays[0].shape[0]} and "
            f"{arrays[1].shape[0]}"
        )
    return arrays[0], arrays[1]
