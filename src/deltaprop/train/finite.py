"""Finite training state: which parts of a model and its optimizer hold NaN/Inf, and a copy of
the last state found finite, to roll back to.

The state of a run is more than its parameters: batch norm's running statistics are buffers
that the forward pass changes (a huge activation makes ``running_var`` overflow to inf while
the normalized output, the loss and every weight stay finite), and the optimizer's moments
and momentum buffers steer every later step (Adam's ``exp_avg_sq`` overflows to inf and then
freezes its parameter for good). :func:`non_finite` looks at all three; :class:`LastGood`
copies all three, so a rollback leaves weights, buffers and optimizer state that belong
together.

Cost: one pass over the state per call; the loop calls these once per epoch, never per step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend


def _is_array(value: Any) -> bool:
    """A NumPy or CuPy array (writable in place), not a number such as Adam's step count."""
    return isinstance(value, np.ndarray) or backend.xp_of(value) is not np


def _is_float_array(value: Any) -> bool:
    # integer buffers (num_batches_tracked) cannot be NaN/Inf
    return _is_array(value) and value.dtype.kind in "fc"


def _finite(array: Any) -> bool:
    return bool(backend.xp_of(array).isfinite(array).all())


def _param_names(model: Any) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def non_finite(model: Any, optimizer: Any = None) -> list[str]:
    """What holds NaN or Inf, in words: ``"parameter '0.weight'"``, ``"buffer
    '1.running_var'"``, ``"optimizer state 'exp_avg_sq' of '0.weight'"``; empty when every
    parameter and float buffer of ``model`` (and every array in ``optimizer.state``) is
    finite. Parameters first, then buffers, then the optimizer, each in registration order."""
    found = [f"parameter {n!r}" for n, p in model.named_parameters() if not _finite(p.data)]
    found += [
        f"buffer {n!r}"
        for n, b in model.named_buffers()
        if _is_float_array(b.data) and not _finite(b.data)
    ]
    if optimizer is not None:
        names = _param_names(model)
        for i, (p, state) in enumerate(_states(optimizer)):
            for key, value in state.items():
                if _is_float_array(value) and not _finite(value):
                    owner = names.get(id(p), f"optimizer parameter {i}")
                    found.append(f"optimizer state {key!r} of {owner!r}")
    return found


def listed(found: list[str], most: int = 3) -> str:
    """``found`` (from :func:`non_finite`) as one phrase: the first ``most`` and a count."""
    shown = ", ".join(found[:most])
    return shown if len(found) <= most else f"{shown} and {len(found) - most} more"


def _states(optimizer: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(parameter, state dict) for each parameter of ``optimizer`` that has a state."""
    state = optimizer.state
    return [(p, state[p]) for p in optimizer.params if p in state]


class LastGood:
    """A copy of a model's parameters and buffers and of its optimizer's per-parameter state,
    taken with :meth:`take` (arrays are reused from one take to the next: no allocation per
    epoch once the optimizer's state exists) and put back in place with :meth:`restore`.

    A parameter that had no optimizer state when the copy was taken has none after a restore
    (the optimizer makes a fresh one at its next update, as it would have then).
    """

    def __init__(self, model: Any, optimizer: Any) -> None:
        self.model = model
        self.optimizer = optimizer
        self.tensors = [p for p in model.parameters()] + [b for _, b in model.named_buffers()]
        self.copies = [t.data.copy() for t in self.tensors]
        self.states: dict[Any, dict[str, Any]] = {}
        self._take_optimizer()

    def take(self) -> None:
        """Copy the current state over the last one."""
        for t, saved in zip(self.tensors, self.copies, strict=True):
            saved[...] = t.data
        self._take_optimizer()

    def restore(self) -> None:
        """Put the copied state back (in place, so references held elsewhere stay valid)."""
        for t, saved in zip(self.tensors, self.copies, strict=True):
            t.data[...] = saved
        state = self.optimizer.state
        for p in [p for p in state if p not in self.states]:
            del state[p]  # no state then: the optimizer makes a fresh one at the next update
        for p, saved_state in self.states.items():
            current = state.setdefault(p, {})
            for key in [k for k in current if k not in saved_state]:
                del current[key]
            for key, value in saved_state.items():
                now = current.get(key)
                if _is_array(value):
                    if _is_array(now) and now.shape == value.shape and now.dtype == value.dtype:
                        now[...] = value
                    else:
                        current[key] = value.copy()
                else:  # a number (the step count): immutable, shared safely
                    current[key] = value

    def _take_optimizer(self) -> None:
        old = self.states
        taken: dict[Any, dict[str, Any]] = {}
        for p, state in _states(self.optimizer):
            before = old.get(p, {})
            copy: dict[str, Any] = {}
            for key, value in state.items():
                if _is_array(value):
                    kept = before.get(key)
                    if _is_array(kept) and kept.shape == value.shape and kept.dtype == value.dtype:
                        kept[...] = value
                        copy[key] = kept
                    else:
                        copy[key] = value.copy()
                else:
                    copy[key] = value
            taken[p] = copy
        self.states = taken
