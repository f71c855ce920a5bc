"""An optimizer's per-parameter state as plain data: exported for a state_dict, checked and
copied back when one is loaded.

A state is ``{parameter: {name: value}}``; values are arrays shaped like their parameter
(moments, momentum buffers) or plain numbers (the step counter). Saved states refer to
parameters by their position across all groups, as PyTorch's do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError, ShapeError


def export_state(
    state: Mapping[Tensor, Mapping[str, Any]], params: Sequence[Tensor]
) -> dict[int, dict[str, Any]]:
    """``{index: {name: value}}`` for every parameter of ``params`` with a non-empty state (so
    that plain SGD saves none, as PyTorch's); arrays become NumPy copies (from the GPU too),
    other values deep copies."""
    index = {id(p): i for i, p in enumerate(params)}
    out: dict[int, dict[str, Any]] = {}
    for p, s in state.items():
        if s and id(p) in index:
            out[index[id(p)]] = {k: _export(v) for k, v in s.items()}
    return out


def import_state(
    saved: Mapping[Any, Mapping[str, Any]], params: Sequence[Tensor]
) -> dict[Tensor, dict[str, Any]]:
    """The state that ``saved`` (from :func:`export_state`, maybe through JSON) describes for
    ``params``: arrays checked against their parameter's shape and copied to its device and
    dtype. Nothing is written anywhere, so a failure leaves the optimizer as it was.

    Raises:
        ConfigError: an index that names no parameter.
        ShapeError: an array whose shape is not its parameter's.
    """
    restored_state: dict[Tensor, dict[str, Any]] = {}
    for key, entry in saved.items():
        i = int(key)  # JSON turns int keys into strings
        if not 0 <= i < len(params):
            raise ConfigError(f"state_dict['state']: parameter index {key!r} out of range")
        p = params[i]
        restored = {}
        for name, value in entry.items():
            if isinstance(value, (np.ndarray, list)) or backend.xp_of(value) is not np:
                arr = np.asarray(backend.to_numpy(value))
                if arr.shape != p.data.shape:
                    raise ShapeError(
                        f"state_dict['state'][{key!r}][{name!r}]: expected shape "
                        f"{p.data.shape}, got {arr.shape}"
                    )
                xp = backend.xp_of(p.data)
                value = xp.asarray(arr, dtype=p.data.dtype).copy()
            else:
                value = copy.deepcopy(value)
            restored[name] = value
        restored_state[p] = restored
    return restored_state


def _export(value: Any) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return backend.to_numpy(value).copy()
    return copy.deepcopy(value)
