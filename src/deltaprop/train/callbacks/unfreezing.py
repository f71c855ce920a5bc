"""GradualUnfreezing: fine-tune a pretrained network from the top down (ULMFiT's schedule).

At first only the output layer trains, on top of the pretrained features; then, every
``every`` epochs, one more group of layers below it joins, the one nearest the top first.
Layers far from the output hold the most general features and are disturbed last, when the
head no longer sends them large, random gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...checks import check_int
from ...errors import ConfigError
from ...nn.freezing import select, set_requires_grad
from .base import Callback


class GradualUnfreezing(Callback):
    """Unfreeze ``groups`` one at a time, from the top, every ``every`` epochs.

    In epoch ``e`` (from 0) the first ``e // every`` groups train and the others are frozen;
    the layers in no group (the output layer, by default) train throughout. When ``fit`` ends
    every parameter gets back the ``requires_grad`` it had when ``fit`` began.

    The state is a function of the epoch alone, so a run resumed from a checkpoint carries on
    with the same layers frozen (there is nothing to save).

    Args:
        groups: layer names or indices as :meth:`Module.freeze` takes them, ordered from the
            top (next to the output) down; an entry may be a list (layers that join
            together). None: the model's direct children that hold parameters, from the one
            before the last (the head) down to the first: for ``nn.mlp(64, [128, 64], 10)``
            ``["2", "0"]``.
        every: epochs between two unfreezings (>= 1).

    Raises:
        ConfigError: a bad ``every``, a group that names no layer of the model (at the start
            of ``fit``, before anything is trained), or no group at all.
    """

    def __init__(self, groups: Sequence[Any] | None = None, every: int = 1) -> None:
        self.every = check_int(every, "every")
        if groups is not None and (isinstance(groups, (str, bytes)) or not _is_list(groups)):
            raise ConfigError(
                f"groups: expected a list of layer names or indices, top first, got {groups!r}"
            )
        self.groups = None if groups is None else list(groups)
        self._resolved: list[list[Any]] = []
        self._saved: list[tuple[Any, bool]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = self.trainer.model
        groups = self.groups if self.groups is not None else default_groups(model)
        if not groups:
            raise ConfigError(
                "groups: the model has no layer below its output layer to unfreeze; "
                "GradualUnfreezing needs at least one"
            )
        resolved = []
        for i, group in enumerate(groups):
            names = tuple(group) if _is_list(group) else (group,)
            resolved.append(select(model, names, f"groups[{i}]"))
        self._saved = [(p, p.requires_grad) for p in model.parameters()]
        self._resolved = resolved

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        unfrozen = epoch // self.every
        for i, params in enumerate(self._resolved):
            set_requires_grad(params, i < unfrozen)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for p, flag in self._saved:
            p.requires_grad = flag
        self._saved = []

    def __repr__(self) -> str:
        return f"GradualUnfreezing(groups={self.groups!r}, every={self.every})"


def default_groups(model: Any) -> list[str]:
    """The direct children holding parameters, minus the last one, from the top down."""
    named = [name for name, child in model._modules.items() if child.parameters()]
    return list(reversed(named[:-1]))


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))
