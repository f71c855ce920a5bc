"""Reusing a trained network on a new task: find its output layer and give it a new one.

>>> from deltaprop import nn
>>> model = nn.mlp(64, [32], 5)            # trained on 5 classes ...
>>> _ = nn.replace_head(model, 10)          # ... fine-tuned on 10: a fresh output layer
>>> model[-1].out_features, nn.head_name(model)
(10, '2')
"""

from __future__ import annotations

from ..checks import check_int
from ..errors import ConfigError
from .linear import Linear
from .module import Module
from .sequential import Sequential


def head_name(model: Module) -> str:
    """The dotted name of the output layer: the last Linear in ``named_modules()`` order
    (the order forward runs a Sequential in).

    Raises:
        ConfigError: the model has no Linear layer.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"model: expected a deltaprop Module, got {type(model).__name__}")
    names = [name for name, m in model.named_modules() if isinstance(m, Linear) and name]
    if not names:
        raise ConfigError(
            f"model: expected a network ending in a Linear layer (its output head), got "
            f"{type(model).__name__} with none"
        )
    return names[-1]


def replace_head(model: Module, n_out: int, init: str | None = None) -> Linear:
    """Replace the output layer (:func:`head_name`) by a fresh ``Linear(in, n_out)``, in place;
    return the new layer. It keeps the old one's input width, bias, dtype and (unless ``init``
    is given) initializer; its weights are new (deltaprop's generator, which ``dp.seed`` sets).

    Raises:
        ConfigError: no Linear layer, or a bad ``n_out``; the model is left as it was.
    """
    n_out = check_int(n_out, "n_out")
    name = head_name(model)
    parent_name, _, leaf = name.rpartition(".")
    parent = dict(model.named_modules())[parent_name]
    old = parent._modules[leaf]
    new = Linear(
        old.in_features, n_out, bias=old.bias is not None, init=old.init if init is None else init,
        bias_init=old.bias_init, dtype=old.weight.dtype.name, l1=old.l1, l2=old.l2,
    )  # fmt: skip
    parent.__setattr__(leaf, new)
    if isinstance(parent, Sequential):  # forward runs its list, not its attributes
        parent._layers[parent._layers.index(old)] = new
    return new
