"""Model builders: a whole network from a few numbers and names.

:func:`mlp` is the multilayer perceptron ``deltaprop train`` trains by default (optionally with
skip connections); :func:`cnn` the small convolutional network of ``--model cnn``.

>>> from deltaprop import nn
>>> nn.mlp(4, [8], 3, activation="tanh")  # doctest: +ELLIPSIS
Sequential(...)
>>> nn.cnn((1, 8, 8), 10, channels=(8, 16))  # doctest: +ELLIPSIS
Sequential(...)
"""

from __future__ import annotations

from collections.abc import Sequence

from ..checks import check_bool, check_choice, check_fraction, check_int
from ..errors import ConfigError
from .activation import get_activation
from .conv import Conv2d
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import MaxPool2d
from .residual import Residual
from .sequential import Sequential
from .shape import Flatten

NORMS = ("batchnorm", "layernorm")


def mlp(
    n_in: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str | Module = "relu",
    init: str = "default",
    dropout: float = 0.0,
    norm: str | None = None,
    residual: bool = False,
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
        residual: wrap each hidden layer in a :class:`Residual` block, ``x + layer(x)``, so the
            gradient reaches early layers through the additions (deep nets train). Where the
            width changes (the input to the first width, ``[64, 32]``'s 64 -> 32) the skip is
            a projection ``Linear(width, h, bias=False)`` (a learned linear map: an identity
            cannot add x of one width to an output of another).
    """
    n_in = check_int(n_in, "n_in")
    n_out = check_int(n_out, "n_out")
    widths = [check_int(h, "hidden") for h in hidden]
    dropout = check_fraction(dropout, "dropout", closed_low=True)
    residual = check_bool(residual, "residual")
    if norm is not None:
        norm = check_choice(norm, NORMS, "norm")
    layers: list[Module] = []
    width = n_in
    for h in widths:
        block: list[Module] = [Linear(width, h, init=init)]
        if norm == "batchnorm":
            block.append(BatchNorm1d(h))
        elif norm == "layernorm":
            block.append(LayerNorm(h))
        block.append(get_activation(activation))
        if dropout > 0:
            block.append(Dropout(dropout))
        if residual:
            skip = None if width == h else Linear(width, h, bias=False, init=init)
            layers.append(Residual(Sequential(*block), shortcut=skip))
        else:
            layers.extend(block)
        width = h
    layers.append(Linear(width, n_out, init=init))
    return Sequential(*layers)


def cnn(
    in_shape: Sequence[int],
    n_out: int,
    channels: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    pool: int = 2,
    hidden: Sequence[int] = (128,),
    activation: str | Module = "relu",
    batchnorm: bool = False,
    dropout: float = 0.0,
    residual: bool = False,
    init: str = "default",
) -> Sequential:
    """A small convolutional network for images (N, C, H, W) -> (N, n_out) logits.

    Per width ``c`` of ``channels``, a block ``Conv2d(c_prev, c, kernel_size,
    padding=kernel_size // 2)`` (the size kept) ``-> [BatchNorm2d] -> activation ->
    MaxPool2d(pool)`` (the size halved for ``pool=2``); then ``Flatten`` and a dense head as
    :func:`mlp` builds it: per width of ``hidden`` ``Linear -> activation -> [Dropout]``, and a
    ``Linear`` to ``n_out``.

    The head flattens the last feature maps rather than averaging them (global average
    pooling): on digits' 8x8 images the 2x2 maps left after two blocks still say *where* a
    stroke is, and keeping that measured better (see README, "CNNs").

    Args:
        in_shape: (C, H, W) of the input images.
        n_out: outputs (classes).
        channels: output channels of each conv block, e.g. ``(32, 64)``; at least one.
        kernel_size: odd, so that ``padding=kernel_size // 2`` keeps H and W.
        pool: max-pooling window and stride after each block (1: no pooling).
        hidden: the dense head's hidden widths (``()``: Flatten straight to the output).
        activation: a name from ``nn.ACTIVATIONS`` (a fresh module per layer).
        batchnorm: BatchNorm2d after each convolution (and BatchNorm1d in the head).
        dropout: drop probability after each hidden activation of the head.
        residual: wrap each block's convolution (and norm and activation) in a
            :class:`Residual`: ``x + block(x)``, with a 1x1 convolution as the skip where the
            channels change (an identity cannot add C_in channels to C_out).
        init: weight initializer of every Conv2d and Linear.

    Raises:
        ConfigError: a bad argument, naming it; images too small for ``len(channels)``
            poolings (each needs at least ``pool`` pixels a side).
    """
    shape = _image_shape(in_shape)
    n_out = check_int(n_out, "n_out")
    widths = [check_int(c, "channels") for c in channels]
    if not widths:
        raise ConfigError("channels: expected at least one conv block width, got none")
    k = check_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ConfigError(
            f"kernel_size: expected an odd size (padding k // 2 keeps the image size), got {k}"
        )
    pool = check_int(pool, "pool")
    heads = [check_int(h, "hidden") for h in hidden]
    batchnorm = check_bool(batchnorm, "batchnorm")
    residual = check_bool(residual, "residual")
    dropout = check_fraction(dropout, "dropout", closed_low=True)
    c, h, w = shape
    layers: list[Module] = []
    for i, width in enumerate(widths):
        if pool > 1 and min(h, w) < pool:
            raise ConfigError(
                f"channels: {len(widths)} conv blocks, each pooling by {pool}, need images of "
                f"at least {pool ** len(widths)}x{pool ** len(widths)} pixels; block {i + 1} "
                f"would get {h}x{w} (from {shape[1]}x{shape[2]}): use fewer widths or pool 1"
            )
        block: list[Module] = [Conv2d(c, width, k, padding=k // 2, init=init)]
        if batchnorm:
            block.append(BatchNorm2d(width))
        block.append(get_activation(activation))
        if residual:
            skip = None if c == width else Conv2d(c, width, 1, bias=False, init=init)
            layers.append(Residual(Sequential(*block), shortcut=skip))
        else:
            layers.extend(block)
        if pool > 1:
            layers.append(MaxPool2d(pool))
            h, w = h // pool, w // pool
        c = width
    layers.append(Flatten())
    width = c * h * w
    for units in heads:
        layers.append(Linear(width, units, init=init))
        if batchnorm:
            layers.append(BatchNorm1d(units))
        layers.append(get_activation(activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = units
    layers.append(Linear(width, n_out, init=init))
    return Sequential(*layers)


def _image_shape(value: object) -> tuple[int, int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ConfigError(f"in_shape: expected (C, H, W) of the input images, got {value!r}")
    return tuple(check_int(v, f"in_shape[{i}]") for i, v in enumerate(value))  # type: ignore[return-value]
