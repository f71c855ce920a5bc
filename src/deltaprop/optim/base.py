"""Optimizer: parameter groups, per-parameter state, step(), zero_grad(), state_dict().

The shape is PyTorch's, so a torch user feels at home: ``param_groups`` is a list of dicts, each
with its ``"params"`` and its own hyperparameters (a schedule changes ``group["lr"]`` between
steps); ``state`` maps a parameter to its own dict of arrays (momentum buffers, moments).

The optimizer step is the only place that changes parameters (STYLE 8). It writes ``p.data`` in
place, so no graph is recorded and no ``no_grad`` block is needed.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError, ShapeError


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ConfigError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def _check_non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ConfigError(f"{name}: expected a number >= 0, got {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses write ``step``.

    Args:
        params: an iterable of Parameters (Tensors), or of dicts ``{"params": [...], "lr": ...}``
            (parameter groups; keys a group leaves out take the values in ``defaults``).
        defaults: the hyperparameters of this optimizer and their default values.

    Raises:
        ConfigError: no parameters, something that is not a Tensor (its index is named), a
            parameter listed twice, an unknown group key, or a bad hyperparameter value.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        # Keyed by the parameter object itself: Tensor keeps object identity hashing.
        self.state: dict[Tensor, dict[str, Any]] = {}
        if isinstance(params, Tensor):
            raise ConfigError(
                "params: expected an iterable of Parameters (e.g. model.parameters()), got a "
                "single Tensor; wrap it in a list"
            )
        if isinstance(params, dict):
            params = [params]
        try:
            items = list(params)
        except TypeError:
            raise ConfigError(
                f"params: expected an iterable of Parameters or of parameter-group dicts, got "
                f"{type(params).__name__}"
            ) from None
        if not items:
            raise ConfigError("params: expected at least one parameter, got an empty list")
        groups = items if all(isinstance(g, dict) for g in items) else [{"params": items}]
        staged: list[dict[str, Any]] = []
        seen: set[int] = set()
        for gi, group in enumerate(groups):
            staged.append(self._make_group(group, gi if len(groups) > 1 else None, seen))
        self.param_groups = staged

    # --- groups ------------------------------------------------------------------------------
    def _make_group(self, group: Any, index: int | None, seen: set[int]) -> dict[str, Any]:
        where = "params" if index is None else f"params[{index}]"
        if not isinstance(group, dict):
            raise ConfigError(
                f"{where}: expected a parameter-group dict or a Parameter, got "
                f"{type(group).__name__} (do not mix the two)"
            )
        allowed = ("params", "name", *self.defaults)
        unknown = [k for k in group if k not in allowed]
        if unknown:
            raise ConfigError(
                f"{where}: unknown option(s) {unknown}; allowed keys are {list(allowed)}"
            )
        if "params" not in group:
            raise ConfigError(f"{where}: a parameter group needs a 'params' entry")
        plist = group["params"]
        plist = [plist] if isinstance(plist, Tensor) else list(plist)
        if not plist:
            raise ConfigError(f"{where}: expected at least one parameter, got an empty list")
        prefix = "params" if index is None else f"params[{index}]['params']"
        for i, p in enumerate(plist):
            if not isinstance(p, Tensor):
                raise ConfigError(f"{prefix}[{i}]: expected a Parameter, got {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise ConfigError(
                    f"{prefix}[{i}]: expected a floating Parameter, got dtype {p.data.dtype}"
                )
            if id(p) in seen:
                raise ConfigError(f"{prefix}[{i}]: this parameter is listed more than once")
            seen.add(id(p))
        out = dict(self.defaults)
        out.update({k: v for k, v in group.items() if k != "params"})
        self._check_hyperparameters(out, where)
        out["params"] = plist
        return out

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        """Validate one group's values in place; the message is prefixed with ``where`` when
        the group is one of several (or comes from a state_dict)."""
        try:
            if where.startswith("state_dict"):
                # A schedule may have annealed the lr to exactly 0 (cosine with eta_min=0)
                # before the state was saved: restoring it must work.
                group["lr"] = _check_non_negative("lr", group["lr"])
            else:
                group["lr"] = _check_positive("lr", group["lr"])
            self._check_options(group)
        except ConfigError as exc:
            raise ConfigError(str(exc) if where == "params" else f"{where}: {exc}") from None

    def _check_options(self, group: dict[str, Any]) -> None:
        """Subclasses check (and normalize in place) their own hyperparameters, raising a
        ConfigError that names the key."""

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group (e.g. unfrozen layers) with its own hyperparameters."""
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        self.param_groups.append(self._make_group(group, len(self.param_groups), seen))

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, in group order."""
        return [p for g in self.param_groups for p in g["params"]]

    # --- the step ----------------------------------------------------------------------------
    def step(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not define step()")

    def zero_grad(self) -> None:
        """Drop every gradient (set to None); the next backward writes fresh arrays."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: array}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are referred to by their position across all groups (as in PyTorch), so the
        dict can be loaded into an optimizer built on a fresh copy of the model. Arrays are NumPy
        copies; hyperparameters are plain JSON-able values.
        """
        index = {id(p): i for i, p in enumerate(self.params)}
        groups = []
        for g in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in g["params"]]
            groups.append(entry)
        state: dict[int, dict[str, Any]] = {}
        for p, s in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: _export(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict`.

        Everything is checked (group count and sizes, state shapes) before anything is written,
        so a failed load leaves the optimizer as it was.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ConfigError(
                "state_dict: expected a dict with keys 'state' and 'param_groups', got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ConfigError(
                f"state_dict: expected {len(self.param_groups)} parameter group(s), got "
                f"{len(saved_groups)}"
            )
        params = self.params
        new_groups = []
        for gi, (mine, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(mine["params"]):
                raise ConfigError(
                    f"state_dict['param_groups'][{gi}]: expected {len(mine['params'])} "
                    f"parameters, got {len(saved['params'])}"
                )
            group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            unknown = [k for k in group if k not in ("name", *self.defaults)]
            if unknown:
                raise ConfigError(
                    f"state_dict['param_groups'][{gi}]: unknown option(s) {unknown} for "
                    f"{type(self).__name__}"
                )
            merged = dict(self.defaults)
            merged.update(group)
            self._check_hyperparameters(merged, f"state_dict['param_groups'][{gi}]")
            merged["params"] = mine["params"]
            new_groups.append(merged)
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in state_dict["state"].items():
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
            new_state[p] = restored
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v!r}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        lines.append(")")
        return "\n".join(lines)


def _export(value: Any) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return backend.to_numpy(value).copy()
    return copy.deepcopy(value)
