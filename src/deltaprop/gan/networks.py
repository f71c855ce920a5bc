"""The default generator and discriminator: ordinary deltaprop Sequentials.

The GAN feeds the class label to both as one-hot columns (:mod:`.model`): the generator gets
``[z, onehot(y)]`` (N, latent_dim + K); a dense discriminator ``[x, onehot(y)]``
(N, D + K); a convolutional one the image with K more channels, the label's one-hot as
constant planes (N, C + K, H, W). Every discriminator ends in one logit per row (N, 1).

Choices, from the GAN literature's defaults for small problems (DCGAN, Radford et al., 2016;
CTGAN, Xu et al., 2019): LeakyReLU(0.2) in the discriminator, so that its gradient (which is
all the generator learns from) does not die at zero; batch norm in the generator only
(in the discriminator it would mix real and fake rows of a batch); dropout in the dense
discriminator, which otherwise memorizes a small training set and wins outright.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..checks import check_fraction, check_int
from ..errors import ConfigError
from ..nn import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Tanh,
)
from .layers import Unflatten, Upsample

SLOPE = 0.2


def dense_generator(n_in: int, n_out: int, hidden: Sequence[int] = (128, 128)) -> Sequential:
    """(N, n_in) -> (N, n_out) raw outputs: per width ``Linear -> BatchNorm1d -> ReLU``, then
    a Linear (the GAN applies the output activations: :meth:`TabularTransformer.activate`)."""
    layers, width = [], check_int(n_in, "n_in")
    for h in hidden:
        h = check_int(h, "hidden")
        layers += [Linear(width, h), BatchNorm1d(h), ReLU()]
        width = h
    layers.append(Linear(width, check_int(n_out, "n_out")))
    return Sequential(*layers)


def dense_discriminator(
    n_in: int, hidden: Sequence[int] = (128, 128), dropout: float = 0.3
) -> Sequential:
    """(N, n_in) -> (N, 1) logits: per width ``Linear -> LeakyReLU(0.2) -> Dropout``."""
    dropout = check_fraction(dropout, "dropout", closed_low=True)
    layers, width = [], check_int(n_in, "n_in")
    for h in hidden:
        h = check_int(h, "hidden")
        layers += [Linear(width, h), LeakyReLU(SLOPE)]
        if dropout:
            layers.append(Dropout(dropout))
        width = h
    layers.append(Linear(width, 1))
    return Sequential(*layers)


def upsamplings(height: int, width: int) -> int:
    """How many 2x upsamplings the generator makes (0, 1 or 2): halve H and W while both are
    even and the maps stay at least 4 pixels wide (8x8 digits: 1, from 4x4; 28x28: 2, from
    7x7), so the dense layer makes small maps and the convolutions make the detail."""
    n = 0
    while n < 2 and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, n = height // 2, width // 2, n + 1
    return n


def conv_generator(
    n_in: int, image_shape: Sequence[int], channels: Sequence[int] = (64, 32)
) -> Sequential:
    """(N, n_in) -> (N, C, H, W) images in [-1, 1]: a dense layer to ``channels[0]`` maps of
    (H, W) / 2^u (:func:`upsamplings`), then per further width ``[Upsample] -> Conv2d 3x3 ->
    BatchNorm2d -> ReLU`` (an Upsample before each of the first u), and a Conv2d 3x3 to C
    channels with tanh."""
    c, h, w = (check_int(s, "image_shape") for s in image_shape)
    widths = [check_int(k, "channels") for k in channels]
    if not widths:
        raise ConfigError("channels: expected at least one width")
    u = upsamplings(h, w)
    h0, w0 = h >> u, w >> u
    layers = [Linear(check_int(n_in, "n_in"), widths[0] * h0 * w0),
              BatchNorm1d(widths[0] * h0 * w0), ReLU(),
              Unflatten((widths[0], h0, w0))]  # fmt: skip
    steps = max(u, len(widths) - 1)
    previous = widths[0]
    for i in range(steps):
        if i < u:
            layers.append(Upsample())
        out = widths[min(i + 1, len(widths) - 1)]
        layers += [Conv2d(previous, out, 3, padding=1), BatchNorm2d(out), ReLU()]
        previous = out
    layers += [Conv2d(previous, c, 3, padding=1), Tanh()]
    return Sequential(*layers)


def conv_discriminator(
    in_channels: int, image_shape: Sequence[int], channels: Sequence[int] = (32, 64)
) -> Sequential:
    """(N, in_channels, H, W) -> (N, 1) logits: per width ``Conv2d 3x3 stride 2 ->
    LeakyReLU(0.2)`` (each halves H and W, rounding up), then Flatten and a Linear."""
    _, h, w = (check_int(s, "image_shape") for s in image_shape)
    layers, previous = [], check_int(in_channels, "in_channels")
    for k in channels:
        k = check_int(k, "channels")
        layers += [Conv2d(previous, k, 3, stride=2, padding=1), LeakyReLU(SLOPE)]
        previous, h, w = k, (h + 1) // 2, (w + 1) // 2
    layers += [Flatten(), Linear(previous * h * w, 1)]
    return Sequential(*layers)
