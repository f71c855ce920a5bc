"""An optimizer's per-parameter state as plain data: exported for a state_dict, checked and
copied back when one is loaded.

A state is ``{parameter: {name: value}}``; values are arrays shaped like their parameter
(moments, momentum buffers) or plain numbers (the step counter). Saved states refer to
parameters by their position across all groups, as PyTorch's do.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..checks import check_int
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
        ConfigError: not a mapping, an index that names no parameter (or names one twice), an
            entry that is not a dict of named values, an array that is not numbers.
        ShapeError: an array whose shape is not its parameter's.
    """
    if not isinstance(saved, Mapping):
        raise ConfigError(
            "state_dict['state']: expected a dict {parameter index: state}, got "
            f"{type(saved).__name__}"
        )
    restored_state: dict[Tensor, dict[str, Any]] = {}
    for key, entry in saved.items():
        i = _index(key, len(params))
        p = params[i]
        if p in restored_state:
            raise ConfigError(f"state_dict['state']: parameter index {i} is given twice")
        where = f"state_dict['state'][{key!r}]"
        if not isinstance(entry, Mapping) or not all(isinstance(k, str) for k in entry):
            raise ConfigError(f"{where}: expected a dict of named values, got {entry!r:.80}")
        restored = {}
        for name, value in entry.items():
            if isinstance(value, (np.ndarray, list)) or backend.xp_of(value) is not np:
                try:
                    arr = np.asarray(backend.to_numpy(value))
                except ValueError:  # a ragged list
                    arr = np.asarray(None)
                if arr.dtype.kind not in "biuf":
                    raise ConfigError(f"{where}[{name!r}]: expected an array of numbers")
                if arr.shape != p.data.shape:
                    raise ShapeError(
                        f"{where}[{name!r}]: expected shape {p.data.shape}, got {arr.shape}"
                    )
                xp = backend.xp_of(p.data)
                value = xp.asarray(arr, dtype=p.data.dtype).copy()
            else:
                value = copy.deepcopy(value)
            restored[name] = value
        restored_state[p] = restored
    return restored_state


def _index(key: Any, n: int) -> int:
    """A saved parameter index: an integer in ``[0, n)``, or its decimal string (JSON turns
    int keys into strings)."""
    if isinstance(key, str) and key.isdecimal():
        i = int(key)
    elif isinstance(key, numbers.Integral) and not isinstance(key, bool):
        i = int(key)
    else:
        raise ConfigError(f"state_dict['state']: expected parameter indices, got {key!r}")
    if not 0 <= i < n:
        raise ConfigError(f"state_dict['state']: parameter index {key!r} out of range")
    return i


def check_indices(saved: Any, where: str, count: int, total: int) -> None:
    """ConfigError unless ``saved`` is a parameter-group dict whose ``"params"`` are ``count``
    distinct parameter indices in ``[0, total)``."""
    if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
        got = sorted(map(str, saved)) if isinstance(saved, dict) else type(saved).__name__
        raise ConfigError(
            f"{where}: expected a parameter-group dict with a 'params' list, got {got}"
        )
    indices = saved["params"]
    if len(indices) != count:
        raise ConfigError(f"{where}: expected {count} parameters, got {len(indices)}")
    for j, i in enumerate(indices):
        check_int(i, f"{where}['params'][{j}]", minimum=0, maximum=total - 1)
    if len(set(indices)) != len(indices):
        raise ConfigError(f"{where}['params']: a parameter index is listed twice: {indices!r}")


def check_loaded(
    state: Mapping[Tensor, dict[str, Any]],
    params: Sequence[Tensor],
    groups: Sequence[Mapping[str, Any]],
    new_state: Callable[[Any, Mapping[str, Any]], Mapping[str, Any]],
    counts_steps: bool,
) -> None:
    """ConfigError unless every state of :func:`import_state`'s has what the step reads: the
    keys ``new_state(w, group)`` makes (the optimizer's fresh state), a step counter >= 0 when
    the optimizer counts steps, and nothing but arrays besides. A state that would fail in the
    middle of training is refused when it is loaded. Normalizes the counters to ints."""
    index = {id(p): i for i, p in enumerate(params)}
    group_of = {id(p): g for g in groups for p in g["params"]}
    for p, s in state.items():
        where = f"state_dict['state'][{index[id(p)]}]"
        needed = new_state(p.data, group_of[id(p)])
        missing = [k for k in needed if k not in s]
        if missing:
            raise ConfigError(f"{where}: expected the keys {sorted(needed)}, got {sorted(s)}")
        for name, value in s.items():
            if name == "step" and counts_steps:
                s[name] = check_int(value, f"{where}['step']", minimum=0)
            elif not (isinstance(value, np.ndarray) or backend.xp_of(value) is not np):
                raise ConfigError(
                    f"{where}[{name!r}]: expected an array shaped like the parameter, got "
                    f"{value!r:.80}"
                )


def _export(value: Any) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return backend.to_numpy(value).copy()
    return copy.deepcopy(value)
