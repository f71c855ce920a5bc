"""A ConditionalGAN as ONE model file: :func:`deltaprop.save` of a
:class:`~deltaprop.gan.layers.GANNetworks` (the generator's weights as ``generator.*``, the
discriminator's as ``discriminator.*``, both architectures in the one header, the whole file
under one checksum), with the GAN's settings, classes and data description in the file's
metadata under ``"deltaprop_gan"``.

``dp.load(path)`` of such a file gives the GANNetworks (both models, usable as they are);
:meth:`ConditionalGAN.load` (on :func:`read_gan`) gives back the ConditionalGAN, ready to
``sample``. The optimizers' state is
not kept: a model file holds what predicts (here: what generates), not a training state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import io
from ..errors import ModelFileError
from .layers import GANNetworks
from .space import DataSpace

KEY = "deltaprop_gan"
FORMAT_VERSION = 1


def save_gan(gan: Any, path: Any) -> None:
    """Write ``gan`` (fitted) to ``path`` atomically; ConfigError for an unfitted GAN or one
    holding NaN/inf (nothing written), ModelFileError for a failed write."""
    gan._check_fitted()
    classes = gan.classes_
    meta = {
        "version": FORMAT_VERSION,
        "classes": classes.tolist(),
        "classes_dtype": classes.dtype.str,
        "latent_dim": gan.latent_dim,
        "settings": {
            "kind": gan.kind,
            "hidden": list(gan.hidden),
            "channels": [list(c) for c in gan.channels],
            "lr": gan.lr,
            "betas": list(gan.betas),
            "d_steps": gan.d_steps,
            "dropout": gan.dropout,
            "n_modes": gan.n_modes,
            "tau": gan.tau,
        },  # fmt: skip
        "space": gan.space.state(),
    }
    io.save(GANNetworks(gan.generator, gan.discriminator), path, metadata={KEY: meta})


def read_gan(path: Any) -> tuple[GANNetworks, dict[str, Any], np.ndarray, DataSpace]:
    """``(networks, settings, classes, space)`` of the GAN file ``path`` (the settings as
    :func:`save_gan` wrote them, ``latent_dim`` among them); :meth:`ConditionalGAN.load`
    builds the GAN from them. ModelFileError for any file that is not a whole, unchanged
    deltaprop GAN file."""
    pair, meta = io.load(path, return_metadata=True)
    info = meta.get(KEY)
    if not isinstance(pair, GANNetworks) or not isinstance(info, dict):
        raise ModelFileError(f"{path}: a deltaprop model file, but not a GAN's (save one with "
                             "ConditionalGAN.save)")  # fmt: skip
    try:
        if info["version"] != FORMAT_VERSION:
            raise ValueError(f"version {info['version']!r}, expected {FORMAT_VERSION}")
        classes = np.asarray(info["classes"], dtype=np.dtype(info["classes_dtype"]))
        settings = dict(info["settings"], latent_dim=info["latent_dim"])
        space = DataSpace.from_state(info["space"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the GAN's metadata is malformed: {exc}") from None
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    if classes.ndim != 1 or len(classes) < 2:
        raise ModelFileError(f"{path}: the GAN's metadata lists {classes.size} classes")
    return pair, settings, classes, space
