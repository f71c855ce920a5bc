"""Optimizer: parameter groups, per-parameter state, step(), zero_grad(), state_dict().

The shape is PyTorch's, so a torch user feels at home: ``param_groups`` is a list of dicts, each
with its ``"params"`` and its own hyperparameters (a schedule changes ``group["lr"]`` between
steps); ``state`` maps a parameter to its own dict of arrays (momentum buffers, moments).

The optimizer step is the only place that changes parameters (STYLE 8). It writes ``p.data`` in
place, so no graph is recorded and no ``no_grad`` block is needed.

An optimizer is an *update rule* (as Chainer's UpdateRule or Keras's ``update_step``): the base
class runs the step that every optimizer shares (loop over groups and parameters, skip those
without a gradient, make the state, count the steps, apply weight decay) and a subclass writes
only :meth:`Optimizer.init_state` and :meth:`Optimizer.update` for one parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..autograd.tensor import Tensor
from ..errors import ConfigError
from .groups import check_group, make_group
from .scratch import Scratch
from .state import check_indices, check_loaded, export_state, import_state


class Optimizer:
    """Base class: holds parameter groups and per-parameter state and runs the step; a subclass
    writes the update of one parameter (:meth:`update`) and the state it starts from
    (:meth:`init_state`).

    :meth:`step` does, for every group and every parameter w whose gradient g is not None
    and that is not frozen (``requires_grad`` True)::

        state = state.get(w) or init_state(w, group)      (made at the first update, kept)
        state["step"] += 1                                 (when counts_steps)
        w = w * (1 - lr * lam)   (decoupled_weight_decay)  or  g = g + lam * w   (when lam > 0)
        update(w, g, state, group)                         (writes w in place)

    with lam the group's ``"weight_decay"`` (0 when the optimizer has none).

    Args:
        params: an iterable of Parameters (Tensors), or of dicts ``{"params": [...], "lr": ...}``
            (parameter groups; keys a group leaves out take the values in ``defaults``).
        defaults: the hyperparameters of this optimizer and their default values.

    Raises:
        ConfigError: no parameters, something that is not a Tensor (its index is named), a
            parameter listed twice, an unknown group key, or a bad hyperparameter value.
    """

    # Keep state["step"], the number of updates a parameter took (starts at 0, counted before
    # update() runs, so update() sees t = 1 on the first step).
    counts_steps = False
    # Weight decay as w = w * (1 - lr * lam) before the update (AdamW) instead of lam * w added
    # to the gradient (L2, PyTorch's weight_decay everywhere else).
    decoupled_weight_decay = False
    # Make every parameter's state when the optimizer (or a group) is made, as PyTorch's Adagrad
    # does, instead of at the parameter's first update.
    eager_state = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        # Keyed by the parameter object itself: Tensor keeps object identity hashing.
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._scratch = Scratch()
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
        if self.eager_state:
            for group in staged:
                self._init_group_state(group)

    # --- groups ------------------------------------------------------------------------------
    def _make_group(self, group: Any, index: int | None, seen: set[int]) -> dict[str, Any]:
        return make_group(group, index, seen, self.defaults, self._check_hyperparameters)

    def _check_hyperparameters(self, group: dict[str, Any], where: str) -> None:
        """Validate one group's values in place (see :func:`~.groups.check_group`)."""
        check_group(group, where, self._check_options)

    def _check_options(self, group: dict[str, Any]) -> None:
        """Subclasses check (and normalize in place) their own hyperparameters, raising a
        ConfigError that names the key."""

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group (e.g. unfrozen layers) with its own hyperparameters."""
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        self.param_groups.append(self._make_group(group, len(self.param_groups), seen))
        if self.eager_state:
            self._init_group_state(self.param_groups[-1])

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, in group order."""
        return [p for g in self.param_groups for p in g["params"]]

    # --- the step ----------------------------------------------------------------------------
    def init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        """The state of parameter data ``w`` before its first update: a dict of arrays shaped
        like ``w`` (moments, buffers), empty by default. The base class adds ``"step": 0``
        when :attr:`counts_steps` is set. Empty states are left out of :meth:`state_dict`."""
        return {}

    def update(self, w: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change ``w`` (the parameter's array) in place, given its gradient ``g`` (an array of
        the same shape, weight decay already applied; the rule must not write into it), its
        ``state`` (the dict :meth:`init_state` made, kept between steps) and its ``group``
        (the hyperparameters, read at every step: a schedule may have changed ``"lr"``).
        ``g`` may be a scratch array (L2 weight decay): copy it to keep it."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def scratch(self, w: Any, slot: int = 0) -> Any:
        """An array shaped like ``w`` for an update's intermediates, shared by all parameters
        (:mod:`deltaprop.optim.scratch`): garbage on entry, dead after the update."""
        return self._scratch.get(w, slot)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (see the class docstring)."""
        for group in self.param_groups:
            self._step_group(group)

    def _step_group(self, group: dict[str, Any]) -> None:
        # The loop is the hot path at batch size 1: attribute reads hoisted, one dict lookup and
        # one call per parameter beyond the arithmetic (the update rule's own).
        state = self.state
        update = self.update
        counts_steps = self.counts_steps
        weight_decay = group.get("weight_decay", 0.0)
        decoupled = self.decoupled_weight_decay
        shrink = 1.0 - group["lr"] * weight_decay
        for p in group["params"]:
            g = p.grad
            # a frozen parameter (requires_grad False) is not stepped, nor decayed, even
            # when a gradient was left on it from before it was frozen
            if g is None or not p.requires_grad:
                continue
            w = p.data
            s = state.get(p)
            if s is None:
                s = state[p] = self._new_state(w, group)
            if counts_steps:
                s["step"] += 1
            grad = g.data
            if weight_decay != 0.0:
                if decoupled:
                    w *= shrink
                else:
                    # in a scratch array: the gradient itself stays as backward left it
                    decayed = self._scratch.get(w, 1)
                    grad = backend.xp_of(w).multiply(w, weight_decay, out=decayed)
                    grad += g.data
            update(w, grad, s, group)

    def _new_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        s = self.init_state(w, group)
        return {"step": 0, **s} if self.counts_steps else s

    def _init_group_state(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if p not in self.state:
                self.state[p] = self._new_state(p.data, group)

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
        params = self.params
        index = {id(p): i for i, p in enumerate(params)}
        groups = []
        for g in self.param_groups:
            entry = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in g["params"]]
            groups.append(entry)
        return {"state": export_state(self.state, params), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict`.

        Everything is checked (group count and sizes, parameter indices, hyperparameters, the
        state's keys, shapes and step counters) before anything is written, so a failed load
        leaves the optimizer as it was.

        Raises:
            ConfigError / ShapeError: naming the entry (``state_dict['param_groups'][0]...``).
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ConfigError(
                "state_dict: expected a dict with keys 'state' and 'param_groups', got "
                f"{sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)}"
            )
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)):
            raise ConfigError(
                "state_dict['param_groups']: expected a list of parameter-group dicts, got "
                f"{type(saved_groups).__name__}"
            )
        if len(saved_groups) != len(self.param_groups):
            raise ConfigError(
                f"state_dict: expected {len(self.param_groups)} parameter group(s), got "
                f"{len(saved_groups)}"
            )
        params = self.params
        new_groups = []
        for gi, (mine, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            where = f"state_dict['param_groups'][{gi}]"
            check_indices(saved, where, len(mine["params"]), len(params))
            group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            unknown = [k for k in group if k not in ("name", *self.defaults)]
            if unknown:
                raise ConfigError(f"{where}: unknown option(s) {unknown} for {type(self).__name__}")
            # state_dict() saves every option: a missing one would silently become the default
            missing = [k for k in self.defaults if k not in group]
            if missing:
                raise ConfigError(f"{where}: the option(s) {missing} are missing")
            merged = dict(self.defaults)
            merged.update(group)
            self._check_hyperparameters(merged, where)
            merged["params"] = mine["params"]
            new_groups.append(merged)
        new_state = import_state(state_dict["state"], params)
        check_loaded(new_state, params, new_groups, self._new_state, self.counts_steps)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for i, g in enumerate(self.param_groups):
            opts = ", ".join(f"{k}={v!r}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} params, {opts}")
        lines.append(")")
        return "\n".join(lines)
