"""The layers a GAN needs that a classifier does not, registered in ``nn.LAYERS`` so that a
saved GAN loads like any model file.

- :class:`Unflatten`: (N, C*H*W) -> (N, C, H, W), the dense layer's output as feature maps.
- :class:`Upsample`: nearest-neighbour 2x (each pixel a 2x2 block). The image generator grows
  its maps with it and a 3x3 convolution after, a "resize-convolution": deltaprop has no
  transposed convolution, and resize-convolution also avoids the checkerboard artifacts a
  stride-2 transposed convolution leaves (Odena et al., 2016). It is written with existing
  differentiable ops (a reshape and a broadcast multiply, whose backward sums the 2x2 block
  back onto its pixel), so it needs no backward code of its own.
- :class:`GANNetworks`: the generator and the discriminator as one Module, so that one model
  file (``dp.save``) holds both, with their names ``generator.*`` and ``discriminator.*``.
"""

from __future__ import annotations

from typing import Any

from .. import nn, ops
from ..autograd.tensor import Tensor, as_tensor
from ..backend import xp_of
from ..checks import check_int
from ..errors import ConfigError, ShapeError
from ..nn.module import Module


@nn.register_layer
class Unflatten(Module):
    """(N, prod(shape)) -> (N, *shape), e.g. ``Unflatten((32, 4, 4))``."""

    def __init__(self, shape: Any) -> None:
        super().__init__()
        if not isinstance(shape, (list, tuple)) or not shape:
            raise ConfigError(f"shape: expected a list of sizes, got {shape!r}")
        self.shape = tuple(check_int(s, "shape") for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        return ops.reshape(x, (x.shape[0], *self.shape))

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}


@nn.register_layer
class Upsample(Module):
    """Nearest-neighbour upsampling by 2: (N, C, H, W) -> (N, C, 2H, 2W)."""

    def forward(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        if x.ndim != 4:
            raise ShapeError(f"Upsample: expected (N, C, H, W), got shape {x.shape}")
        n, c, h, w = x.shape
        ones = Tensor(xp_of(x.data).ones((1, 1, 1, 2, 1, 2), dtype=x.data.dtype))
        y = ops.reshape(x, (n, c, h, 1, w, 1)) * ones
        return ops.reshape(y, (n, c, 2 * h, 2 * w))


@nn.register_layer
class GANNetworks(Module):
    """``generator`` and ``discriminator`` in one Module (nothing runs it: it only keeps the
    pair together in a model file)."""

    module_args = ("generator", "discriminator")

    def __init__(self, generator: Module, discriminator: Module) -> None:
        super().__init__()
        for name, value in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(value, Module):
                raise ConfigError(f"{name}: expected a deltaprop Module, got "
                                  f"{type(value).__name__}")  # fmt: skip
        self.generator = generator
        self.discriminator = discriminator

    def forward(self, *args: Any) -> Any:
        raise ConfigError(
            "GANNetworks holds a generator and a discriminator; call them, or load the file "
            "with deltaprop.gan.ConditionalGAN.load(path)"
        )
