"""Image inputs for the models that take them (``model = "cnn"``, an ``architecture`` with
image layers): which recipes those are, and their per-channel scaling.

Scaling: one mean and one standard deviation per channel, over every pixel of the training
part, not one per pixel column as for tabular data. A CNN applies the same filter at every
position, so every position must be on the same scale; and per-pixel scaling blows up the
border pixels of digits and MNIST, which are 0 in nearly every training image (a tiny standard
deviation turns the rare stroke there into a value of 30 or more).

The per-channel values are stored repeated per column in the usual
:class:`~deltaprop.data.Standardizer`: the model file's ``preprocessor`` keeps its format, and
``deltaprop predict`` scales new rows exactly as training did with no new code path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Standardizer
from ..errors import ConfigError
from .architecture import takes_images
from .spec import Recipe


def wants_images(recipe: Recipe) -> bool:
    """Whether the recipe's model takes images (N, C, H, W) rather than rows (N, F)."""
    if recipe.architecture is not None:
        return takes_images(recipe.architecture)
    return recipe.model == "cnn"


def needs_images_error(recipe: Recipe, name: str, n_features: int) -> ConfigError:
    """The one error for a model that takes images and data that are not: it names the
    option that asked for images and the data set."""
    if recipe.architecture is None:
        what = f"{recipe.show('model')} cnn"
    else:
        what = _first_image_layer(recipe.architecture)
    return ConfigError(
        f"{what} needs image data, and {name} is not (rows of {n_features} features, no "
        "image shape); image data: digits, an IDX file or MNIST folder, a folder of images "
        "per class, or an NPZ file whose X is (N, C, H, W) or (N, H, W)"
    )


def _first_image_layer(layers: Any, where: str = "architecture") -> str:
    for i, layer in enumerate(layers):
        if takes_images((layer,)):
            for key in ("block", "shortcut"):
                if key in layer and takes_images(layer[key]):
                    return _first_image_layer(layer[key], f"{where}[{i}].{key}")
            return f"{where}[{i}] ({layer['type']})"
    return where


def channel_scaler(X: Any, image_shape: tuple[int, int, int]) -> Standardizer:
    """A Standardizer for flat images X (n, C*H*W) with one mean and standard deviation per
    channel (over all n*H*W values of it), repeated for each of the channel's H*W columns.
    A channel with no variance gets scale 1, as the per-column Standardizer does."""
    c, h, w = image_shape
    planes = np.asarray(X, dtype=np.float64).reshape(len(X), c, h * w)
    mean = planes.mean(axis=(0, 2))
    std = planes.std(axis=(0, 2))
    std[std == 0] = 1.0
    state = {"mean": np.repeat(mean, h * w).tolist(), "scale": np.repeat(std, h * w).tolist()}
    return Standardizer.from_state(state)
