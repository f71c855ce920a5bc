"""Image augmentations: random shifts (pad and crop), small rotations, horizontal flips and
cutout, on batches of images (N, C, H, W), each image drawn its own way.

Pixels are moved, never rescaled: each step works in the units of the data it is given
(standardized values, say), and what comes in at a border is ``fill`` (0 by default, the mean
of standardized data) or, with ``mode="nearest"``, the nearest edge pixel.

Flips are opt-in only: a mirrored digit or letter is another symbol, so no set of names that
does not say ``flip`` contains one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import to_numpy, xp_of
from ..checks import check_choice, check_fraction, check_int, check_optional, check_real
from ..errors import ConfigError
from .augment_base import MODES, Augmentation, default_pixels, image_size, on_device


def _too_large(name: str, what: str, value: int, size: tuple[int, int], limit: int) -> ConfigError:
    return ConfigError(
        f"{name}: {what}={value} does not fit images of {size[0]}x{size[1]} pixels; expected "
        f"at most {limit}"
    )


class RandomShift(Augmentation):
    """Shift every image by a random whole number of pixels, ``-pixels..pixels`` down and
    across (drawn apart): the same as padding by ``pixels`` and cropping back at a random
    place (the "random crop with padding" of image classifiers).

    Args:
        pixels: the largest shift; None takes 10% of the shorter side, at least 1 (1 for
            8x8 digits, 3 for 28x28 MNIST).
        mode: ``"constant"`` (the border gets ``fill``) or ``"nearest"`` (the edge pixel).
        fill: the value shifted in with ``mode="constant"``.
    """

    name = "shift"
    images = True

    def __init__(self, pixels: int | None = None, mode: str = "constant", fill: float = 0.0):
        self.pixels = check_optional(check_int, pixels, "pixels")
        self.mode = check_choice(mode, MODES, "mode")
        self.fill = check_real(fill, "fill", minimum=None)
        self._pixels = self.pixels

    def params(self) -> dict[str, Any]:
        return {"pixels": self.pixels, "mode": self.mode, "fill": self.fill}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        size = image_size(X, self.name)
        self._pixels = self.pixels or default_pixels(size, 0.1)
        if self._pixels >= min(size):
            raise _too_large(self.name, "pixels", self._pixels, size, min(size) - 1)

    def apply(self, X, y, rng, rows=None):
        n, c, h, w = X.shape
        p = self._pixels
        xp = xp_of(X)
        dy, dx = rng.integers(-p, p + 1, size=(2, n))
        pad = ((0, 0), (0, 0), (p, p), (p, p))
        if self.mode == "constant":
            padded = xp.pad(X, pad, mode="constant", constant_values=self.fill)
        else:
            padded = xp.pad(X, pad, mode="edge")
        # output pixel (r, s) of image i is input pixel (r - dy_i, s - dx_i): padded's
        # (r - dy_i + p, s - dx_i + p); one gather for the whole batch
        r = on_device(p - dy, X)[:, None] + xp.arange(h)  # (n, h)
        s = on_device(p - dx, X)[:, None] + xp.arange(w)  # (n, w)
        i = xp.arange(n)[:, None, None, None]
        ch = xp.arange(c)[None, :, None, None]
        return padded[i, ch, r[:, None, :, None], s[:, None, None, :]], y


# scipy's "constant" gives ``fill`` to any point beyond the outermost pixel centres, so a
# rotation by 1 degree would blank whole edge rows; "grid-constant" interpolates between the
# edge pixel and ``fill`` there, as a shift by a fraction of a pixel should.
_SCIPY_MODES = {"constant": "grid-constant", "nearest": "nearest"}


class RandomRotation(Augmentation):
    """Rotate every image about its centre by an angle drawn uniformly from
    ``[-degrees, degrees]``, with bilinear interpolation (scipy.ndimage).

    Args:
        degrees: the largest angle, in (0, 180].
        mode: ``"constant"`` (corners outside the image get ``fill``) or ``"nearest"``.
        fill: the value of those corners with ``mode="constant"``.
    """

    name = "rotate"
    images = True

    def __init__(self, degrees: float = 10.0, mode: str = "constant", fill: float = 0.0):
        self.degrees = check_real(degrees, "degrees", strict=True, maximum=180.0)
        self.mode = check_choice(mode, MODES, "mode")
        self.fill = check_real(fill, "fill", minimum=None)

    def params(self) -> dict[str, Any]:
        return {"degrees": self.degrees, "mode": self.mode, "fill": self.fill}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        image_size(X, self.name)

    def apply(self, X, y, rng, rows=None):
        # Imported on first use: scipy.ndimage costs more to import than all of deltaprop.
        from scipy import ndimage

        n, c, h, w = X.shape
        theta = np.deg2rad(rng.uniform(-self.degrees, self.degrees, n))
        cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        r = np.arange(h)[None, :, None] - (h - 1) / 2
        s = np.arange(w)[None, None, :] - (w - 1) / 2
        # Where each output pixel comes from, for all images at once: one map_coordinates call
        # over the batch (N, C, H, W), whose image and channel coordinates are whole numbers.
        # Linear interpolation (order=1) reads those exactly; a higher order would smooth
        # across neighbouring images (its spline prefilter runs along every axis).
        coords = np.empty((4, n, c, h, w))
        coords[0] = np.arange(n)[:, None, None, None]
        coords[1] = np.arange(c)[None, :, None, None]
        coords[2] = (cos * r - sin * s + (h - 1) / 2)[:, None]
        coords[3] = (sin * r + cos * s + (w - 1) / 2)[:, None]
        out = ndimage.map_coordinates(
            to_numpy(X),
            coords,
            order=1,
            mode=_SCIPY_MODES[self.mode],
            cval=self.fill,
            prefilter=False,
        )
        return on_device(out, X), y


class RandomFlip(Augmentation):
    """Mirror each image left to right with probability ``p`` (opt-in: never in a default set;
    mirrored digits and letters are other symbols)."""

    name = "flip"
    images = True

    def __init__(self, p: float = 0.5):
        self.p = check_fraction(p, "p", closed_high=True)

    def params(self) -> dict[str, Any]:
        return {"p": self.p}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        image_size(X, self.name)

    def apply(self, X, y, rng, rows=None):
        xp = xp_of(X)
        flip = on_device(rng.random(X.shape[0]) < self.p, X)[:, None, None, None]
        return xp.where(flip, X[..., ::-1], X), y


class Cutout(Augmentation):
    """Cover a ``size`` x ``size`` square of every image with ``fill``, centred at a random
    pixel (so near a border only part of the square is inside), as in DeVries and Taylor's
    cutout: the model cannot lean on any one part of an image.

    Args:
        size: the square's side; None takes a quarter of the shorter side, at least 1 (2 for
            8x8 digits, 7 for 28x28 MNIST).
        fill: the value of the covered pixels (0: the mean of standardized data).
    """

    name = "cutout"
    images = True

    def __init__(self, size: int | None = None, fill: float = 0.0):
        self.size = check_optional(check_int, size, "size")
        self.fill = check_real(fill, "fill", minimum=None)
        self._size = self.size

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "fill": self.fill}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        size = image_size(X, self.name)
        self._size = self.size or default_pixels(size, 0.25)
        if self._size > min(size):
            raise _too_large(self.name, "size", self._size, size, min(size))

    def apply(self, X, y, rng, rows=None):
        xp = xp_of(X)
        n, _, h, w = X.shape
        k = self._size
        top = rng.integers(0, h, n) - k // 2
        left = rng.integers(0, w, n) - k // 2
        r = np.arange(h)[None, :]
        s = np.arange(w)[None, :]
        in_r = (r >= top[:, None]) & (r < top[:, None] + k)  # (n, h)
        in_s = (s >= left[:, None]) & (s < left[:, None] + k)  # (n, w)
        mask = on_device(in_r[:, None, :, None] & in_s[:, None, None, :], X)
        return xp.where(mask, X.dtype.type(self.fill), X), y
