"""Layers, losses and initializers: stateful structure that holds Parameters and calls ops.

``LAYERS`` maps a class name to the class; model files name their layers by these keys and
:func:`deltaprop.load` rebuilds only classes found here (never eval, never pickle). Add your own
Module subclasses with :func:`register_layer` (they need a ``get_config`` that returns their
constructor arguments).
"""

from __future__ import annotations

from ..errors import ConfigError
from . import init
from .activation import (
    ACTIVATIONS,
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
)
from .builders import cnn, mlp
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .init import INITIALIZERS, get_initializer
from .linear import Linear
from .losses import (
    LOSSES,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    Loss,
    MSELoss,
    NLLLoss,
    get_loss,
    l1_penalty,
    l2_penalty,
)
from .module import IncompatibleKeys, Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .residual import Residual
from .sequential import Sequential
from .shape import Flatten, Identity, Unflatten, Upsample
from .transfer import head_name, replace_head

LAYERS: dict[str, type[Module]] = {
    cls.__name__: cls
    for cls in (
        Sequential, Linear, Flatten, Unflatten, Upsample, Identity, Dropout,
        ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softmax, LogSoftmax,
        BatchNorm1d, LayerNorm,
        Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, BatchNorm2d, Residual,
        Embedding,
    )
}  # fmt: skip


def register_layer(cls: type[Module] | None = None, *, name: str | None = None):
    """Add a Module subclass to :data:`LAYERS` so that model files can name it.

    Usable as ``register_layer(MyBlock)`` or as a decorator (``@register_layer`` or
    ``@register_layer(name="Block")``). The class must define ``get_config()`` returning its
    constructor keyword arguments as JSON values. Registering another class under a taken name
    is a ConfigError; registering the same class again is a no-op. Returns the class.
    """

    def add(c: type[Module]) -> type[Module]:
        if not (isinstance(c, type) and issubclass(c, Module)):
            raise ConfigError(f"register_layer: expected a Module subclass, got {c!r}")
        key = c.__name__ if name is None else name
        if not isinstance(key, str) or not key:
            raise ConfigError(f"name: expected a non-empty string, got {key!r}")
        if LAYERS.get(key, c) is not c:
            raise ConfigError(
                f"register_layer: the name {key!r} is taken by {LAYERS[key].__module__}."
                f"{LAYERS[key].__qualname__}; pass name= to register {c.__qualname__} under "
                "another name"
            )
        LAYERS[key] = c
        return c

    return add if cls is None else add(cls)


def layer_name(cls: type[Module]) -> str | None:
    """The name a class is registered under in :data:`LAYERS`, or None."""
    for key, value in LAYERS.items():
        if value is cls:
            return key
    return None


__all__ = [
    "ACTIVATIONS", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "ELU", "Flatten", "GELU",
    "Unflatten", "Upsample",
    "HuberLoss", "INITIALIZERS", "Identity", "LAYERS", "LOSSES", "LeakyReLU", "Linear",
    "LogSoftmax", "Loss", "MSELoss", "Module", "NLLLoss", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "get_activation", "get_initializer", "get_loss", "init",
    "l1_penalty", "l2_penalty", "layer_name", "mlp", "cnn", "register_layer",
    "BatchNorm1d", "LayerNorm",
    "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm2d", "Conv2d", "Embedding", "GlobalAvgPool2d",
    "MaxPool2d", "Residual",
]  # fmt: skip

# recompute in backward (gradient checkpointing); Checkpointed is not in LAYERS
from .recompute import Checkpointed, checkpoint_sequential  # noqa: E402

__all__ += ["Checkpointed", "checkpoint_sequential"]
# transfer learning: a new output layer, and what load_state_dict did not match
__all__ += ["IncompatibleKeys", "head_name", "replace_head"]
