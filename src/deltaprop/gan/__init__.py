"""Synthetic training data from a conditional GAN, trained by deltaprop's own backprop.

- :class:`ConditionalGAN`: ``fit(X, y)``, ``sample(n, labels)``, ``save`` / ``load`` (one
  model file); its generator and discriminator are ordinary deltaprop models.
- :class:`TabularTransformer`: mode-specific normalization and one-hot categories (tabular).
- :func:`diagnose` and :class:`GANVerdict`: the discriminator wins, the generator's gradients
  vanish, mode collapse (:mod:`.health`).
- :func:`plot_gan_history`: loss curves; sample grids are written by ``fit(plot=...)``.
- :func:`synthesize`: what ``deltaprop synth`` does (a data set's training part -> a GAN ->
  an NPZ file that ``deltaprop train --dataset`` reads).

>>> import numpy as np, deltaprop as dp
>>> X = np.r_[np.random.default_rng(0).normal(0, 1, (40, 2)), np.full((40, 2), 5.0)]
>>> gan = dp.gan.ConditionalGAN(hidden=(16,))
>>> _ = gan.fit(X, np.repeat([0, 1], 40), epochs=2, seed=0)
>>> Xs, ys = gan.sample(4, labels=[0, 1, 0, 1], seed=0)
>>> Xs.shape, ys.tolist()
((4, 2), [0, 1, 0, 1])
"""

from .files import read_gan, save_gan
from .health import GANVerdict, diagnose, mode_collapse
from .layers import GANNetworks, Unflatten, Upsample
from .model import ConditionalGAN
from .plots import plot_gan_history
from .synth import SynthResult, synthesize
from .tabular import TabularTransformer

__all__ = [
    "ConditionalGAN",
    "GANNetworks",
    "GANVerdict",
    "SynthResult",
    "TabularTransformer",
    "Unflatten",
    "Upsample",
    "diagnose",
    "mode_collapse",
    "plot_gan_history",
    "read_gan",
    "save_gan",
    "synthesize",
]
