"""Model builders: a whole network from a few numbers and names.

:func:`mlp` is the multilayer perceptron ``deltaprop train`` trains (and the recipe builds);
later builders (``cnn``, ...) live here too.

>>> from deltaprop import nn
>>> nn.mlp(4, [8], 3, activation="tanh")  # doctest: +ELLIPSIS
Sequential(...)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..checks import check_choice, check_fraction, check_int
from .activation import get_activation
from .dropout import Dropout
from .linear import Linear
from .module import Module, Sequential
from .normalization import BatchNorm1d, LayerNorm

NORMS = ("batchnorm", "layernorm")


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str | Module = "relu",
    init: str = "default",
    dropout: float = 0.0,
    norm: str | None = None,
) -> Sequential:
    """A multilayer perceptron: per hidden width ``h``, ``Linear(width, h) -> [norm] ->
    activation -> [Dropout]``, then a ``Linear`` to ``n_out`` outputs (logits: no activation).

    Args:
        n_in: input features; the model maps (N, n_in) -> (N, n_out).
        hidden: hidden widths, e.g. ``[128, 64]``; empty for a linear model.
        activation: a name from ``nn.ACTIVATIONS`` (a fresh module per layer).
        init: weight initializer of every Linear (a name from ``nn.INITIALIZERS`` or
            ``"constant:V"``).
        dropout: drop probability after each hidden activation (0: no Dropout layer).
        norm: ``"batchnorm"`` or ``"layernorm"`` after each hidden Linear, or None.
    """
    n_in = check_int(n_in, "n_in")
    n_out = check_int(n_out, "n_out")
    widths = [check_int(h, "hidden") for h in hidden]
    dropout = check_fraction(dropout, "dropout", closed_low=True)
    if norm is not None:
        norm = check_choice(norm, NORMS, "norm")
    layers: list[Module] = []
    width = n_in
    for h in widths:
        layers.append(Linear(width, h, init=init))
        if norm == "batchnorm":
            layers.append(BatchNorm1d(h))
        elif norm == "layernorm":
            layers.append(LayerNorm(h))
        layers.append(get_activation(activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = h
    layers.append(Linear(width, n_out, init=init))
    return Sequential(*layers)
