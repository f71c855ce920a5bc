"""The layers a GAN needs that a classifier does not, registered in ``nn.LAYERS`` so that a
saved GAN loads like any model file.

- :class:`~deltaprop.nn.Unflatten` and :class:`~deltaprop.nn.Upsample` (general layers, in
  ``nn``; re-exported here): the image generator grows its maps with Upsample and a 3x3
  convolution after, a "resize-convolution": deltaprop has no transposed convolution, and
  resize-convolution also avoids the checkerboard artifacts a stride-2 transposed convolution
  leaves (Odena et al., 2016).
- :class:`GANNetworks`: the generator and the discriminator as one Module, so that one model
  file (``dp.save``) holds both, with their names ``generator.*`` and ``discriminator.*``.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..errors import ConfigError
from ..nn.module import Module
from ..nn.shape import Unflatten, Upsample  # noqa: F401  (re-exported: gan.Upsample)


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
