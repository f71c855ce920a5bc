"""Image data: the (N, C, H, W) view of a data set.

A :class:`~deltaprop.data.dataset.Dataset` keeps X flat, (N, C * H * W), with its
``image_shape`` (C, H, W): everything written for tabular data (splits, the Preprocessor's
per-column scaling, an MLP, ``deltaprop predict``) works on it unchanged, and a CNN asks for
the images with :func:`as_images`, a reshape that copies nothing.

Where image data comes from: digits (1x8x8), IDX files and MNIST folders (:mod:`.mnist`), a
folder of images per class (:mod:`.image_folder`), NPZ files whose X is (N, C, H, W) or
(N, H, W) (:mod:`.files`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..report import warn
from .dataset import Dataset, check_image_shape

__all__ = ["as_images", "image_feature_names"]


def as_images(
    data: Dataset | Any, image_shape: tuple[int, int, int] | None = None, name: str | None = None
) -> np.ndarray:
    """The rows of ``data`` as images (N, C, H, W), a view of its flat X (nothing is copied).

    An image shape that looks channels-last, (32, 32, 3) (an NPZ file's X saved as (N, H, W,
    C)), is used as given, with a warning: it makes 32 channels of 32x3 images.

    Args:
        data: a :class:`Dataset` (its ``image_shape`` is used), or flat features (N, C*H*W)
            such as a run's preprocessed ``X_train``, with ``image_shape``.
        image_shape: (C, H, W); required for an array, and for a Dataset it overrides its own.
        name: what messages call the data (default: the Dataset's name, or ``"X"``).

    Raises:
        ConfigError: tabular data (no image shape): a CNN needs images.
        ShapeError: an image shape whose size is not the row length.
    """
    if isinstance(data, Dataset):
        shape = image_shape if image_shape is not None else data.image_shape
        X, name = data.X, name or data.name
    else:
        shape, X, name = image_shape, np.asarray(data), name or "X"
    if shape is None:
        d = X.shape[1] if X.ndim == 2 else X.shape[1:]
        raise ConfigError(
            f"{name}: not image data (rows of {d} features, no image shape); a CNN needs "
            "images: digits, an IDX file or MNIST folder, a folder of images per class, or an "
            "NPZ file whose X is (N, C, H, W) or (N, H, W)"
        )
    dims = check_image_shape(shape, X.shape, name)
    if dims[2] in (1, 3, 4) and dims[0] > 4:
        warn(
            f"{name}: image shape {dims} (C, H, W) looks channels-last, (H, W, C); it is used "
            "as given: save images as (N, C, H, W), e.g. X.transpose(0, 3, 1, 2)"
        )
    return X.reshape(len(X), *dims)


def image_feature_names(shape: tuple[int, int, int]) -> list[str]:
    """One name per flat column of images (C, H, W): ``pixel_<row>_<col>`` for one channel
    (as IDX files were always named), ``pixel_<channel>_<row>_<col>`` for several."""
    c, h, w = shape
    if c == 1:
        return [f"pixel_{r}_{k}" for r in range(h) for k in range(w)]
    return [f"pixel_{ch}_{r}_{k}" for ch in range(c) for r in range(h) for k in range(w)]
