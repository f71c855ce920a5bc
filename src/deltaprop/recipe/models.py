"""The recipe's network: an MLP (``model = "mlp"``, optionally ``residual``), a CNN
(``model = "cnn"``) or the layers of an ``architecture``; and the one-line description of it
that the run's header prints."""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..errors import ConfigError
from .architecture_build import build_architecture, describe, shape_text
from .spec import Recipe

Shape = tuple[int, ...]


def _shape(n_in: int | Shape) -> Shape:
    return (int(n_in),) if isinstance(n_in, int) else tuple(int(s) for s in n_in)


def build_model(recipe: Recipe, n_in: int | Shape, n_out: int) -> nn.Sequential:
    """The recipe's network for inputs of one-row shape ``n_in`` (an int or ``(F,)`` for
    rows, ``(C, H, W)`` for images: :attr:`RunData.input_shape`) and ``n_out`` outputs
    (logits, or regression outputs).

    - ``architecture``: its layers, sizes inferred from ``n_in`` (:mod:`.architecture_build`);
    - ``model = "cnn"``: :func:`deltaprop.nn.cnn` with ``channels``, ``hidden`` as the dense
      head, ``activation``, ``batchnorm``, ``dropout``, ``residual`` and ``init``;
    - ``model = "mlp"``: :func:`deltaprop.nn.mlp` (images are taken as their flat rows).

    Raises:
        ConfigError: a cnn (or an architecture with image layers) for flat rows, or an
            architecture that does not fit the data (naming the layer).
    """
    shape = _shape(n_in)
    if recipe.architecture is not None:
        return build_architecture(recipe.architecture, shape, n_out, init=recipe.init).model
    if recipe.model == "cnn":
        _check_cnn_fits(recipe, shape)
        return nn.cnn(shape, n_out, channels=recipe.channels, hidden=recipe.hidden,
                      activation=recipe.activation, batchnorm=recipe.batchnorm,
                      dropout=recipe.dropout, residual=recipe.residual,
                      init=recipe.init)  # fmt: skip
    norm = "batchnorm" if recipe.batchnorm else "layernorm" if recipe.layernorm else None
    return nn.mlp(math.prod(shape), recipe.hidden, n_out, recipe.activation, recipe.init,
                  dropout=recipe.dropout, norm=norm, residual=recipe.residual)  # fmt: skip


def _check_cnn_fits(recipe: Recipe, shape: Shape) -> None:
    """Images (C, H, W), large enough for one 2x2 max-pool per conv block."""
    if len(shape) != 3:
        raise ConfigError(
            f"{recipe.show('model')} cnn: expected image inputs (C, H, W), got rows of "
            f"{shape_text(shape)} features"
        )
    blocks, side = len(recipe.channels), min(shape[1:])
    if side < 2**blocks:
        most = max(side.bit_length() - 1, 0)  # poolings that leave at least 1 pixel
        raise ConfigError(
            f"{recipe.show('channels')}: {blocks} conv blocks, each halving the image with a "
            f"2x2 max-pool, need images of at least {2**blocks}x{2**blocks} pixels, got "
            f"{shape[1]}x{shape[2]}; give at most {most} width{'s' if most != 1 else ''}"
        )


def model_description(recipe: Recipe, n_in: int | Shape, n_out: int) -> str:
    """The model in words for the run's header: ``MLP 64-256-128-10 relu, residual``,
    ``CNN 1x8x8 conv 32-64 dense 256-128-10 relu`` or ``architecture 1x8x8 > conv2d 16x8x8 >
    relu > ...`` (the shape after each layer that changes it)."""
    shape = _shape(n_in)
    if recipe.architecture is not None:
        # its own generator: describing the model must not move the run's random numbers
        built = build_architecture(recipe.architecture, shape, n_out, init=recipe.init,
                                   generator=np.random.default_rng(0))  # fmt: skip
        return f"architecture {describe(built)}"
    extras = [name for name in ("batchnorm", "layernorm", "residual") if getattr(recipe, name)]
    if recipe.dropout:
        extras.append(f"dropout {recipe.dropout:g}")
    tail = "".join(f", {e}" for e in extras)
    dense = "-".join(str(n) for n in (*recipe.hidden, n_out))
    if recipe.model == "cnn":
        _check_cnn_fits(recipe, shape)  # before the header: no line about a model that fails
        conv = "-".join(str(c) for c in recipe.channels)
        return f"CNN {shape_text(shape)} conv {conv} dense {dense} {recipe.activation}{tail}"
    act = recipe.activation if recipe.hidden else "(no hidden layer)"
    return f"MLP {math.prod(shape)}-{dense} {act}{tail}"
