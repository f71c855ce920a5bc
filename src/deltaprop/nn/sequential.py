"""Sequential: layers applied in order, the container most models are."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ConfigError
from .module import Module


class Sequential(Module):
    """Layers applied in order: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise ConfigError(f"layers[{i}]: expected a Module, got {type(layer).__name__}")
            self.__setattr__(str(i), layer)
        object.__setattr__(self, "_layers", list(layers))

    def append(self, layer: Module) -> Sequential:
        if not isinstance(layer, Module):
            raise ConfigError(f"layer: expected a Module, got {type(layer).__name__}")
        self.__setattr__(str(len(self._layers)), layer)
        self._layers.append(layer)
        return self

    def forward(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self._layers[i])
        return self._layers[i]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)
