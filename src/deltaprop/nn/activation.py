"""Activation layers: parameter-free Modules that call the fused activation ops."""

from __future__ import annotations

from typing import Any

from .. import ops
from ..autograd.tensor import Tensor
from ..checks import check_choice, check_int, check_real
from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope * x`` otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_real(negative_slope, "negative_slope", minimum=None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.leaky_relu(x, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class ELU(Module):
    """x for x > 0, ``alpha * (e^x - 1)`` otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_real(alpha, "alpha", minimum=None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.elu(x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class GELU(Module):
    """x * Phi(x) (exact, with erf); ``approximate="tanh"`` for the tanh form (as PyTorch)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = check_choice(approximate, ("none", "tanh"), "approximate")

    def forward(self, x: Tensor) -> Tensor:
        return ops.gelu(x, self.approximate)

    def get_config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class Softmax(Module):
    """e^x / sum(e^x) along ``axis``. For training, prefer raw logits with CrossEntropyLoss."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = check_int(axis, "axis", minimum=None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, self.axis)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class LogSoftmax(Module):
    """x - logsumexp(x) along ``axis`` (pairs with NLLLoss)."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = check_int(axis, "axis", minimum=None)

    def forward(self, x: Tensor) -> Tensor:
        return ops.log_softmax(x, self.axis)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


_BY_NAME: dict[str, type[Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "gelu": GELU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}

#: Names :func:`get_activation` accepts (hidden-layer activations).
ACTIVATIONS: tuple[str, ...] = tuple(_BY_NAME)


def get_activation(name: str | Module) -> Module:
    """A fresh activation Module for a name (case-insensitive, "-" or "_"); a Module passes
    through unchanged. ConfigError lists the allowed names."""
    if isinstance(name, Module):
        return name
    return _BY_NAME[check_choice(name, _BY_NAME, "activation")]()
