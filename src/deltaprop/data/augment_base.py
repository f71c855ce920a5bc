"""What every augmentation is: :class:`Augmentation`, the base class of the steps that
:class:`~deltaprop.data.augment.Augment` chains, and the small helpers they share.

A step holds its parameters (set when it is made), learns what it needs from the training rows
once (:meth:`Augmentation.fit`: a per-feature spread, a table of neighbours, an image size) and
is then applied to one batch at a time with a NumPy Generator it is given
(:meth:`Augmentation.apply`); it never draws from NumPy's global generator. It returns new
arrays and never writes into the batch: a batch is a view of the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import xp_of
from ..errors import ConfigError


class Augmentation:
    """One augmentation of a batch ``(X, y)``.

    Class attributes a subclass sets:
        name: its name in :data:`deltaprop.data.augment.AUGMENTATIONS` (``"shift"``).
        images: True when it works on images: ``apply`` gets X as (N, C, H, W). Otherwise X
            comes as (N, D), each row flattened (the features of a table, or an image's
            pixels).
        relabels: True when it changes the targets (mixup); every other step returns ``y``
            as it came.
    """

    name: str = ""
    images: bool = False
    relabels: bool = False

    def fit(self, X: Any, y: Any, classes: Any = None, n_classes: int | None = None) -> None:
        """Learn what :meth:`apply` needs from the training rows, once, before training.

        Args:
            X: the training rows, (N, C, H, W) for an image step, else (N, D).
            y: their targets as the batches will carry them.
            classes: (N,) the class of each row for classification, None for regression.
            n_classes: when ``y`` holds class labels (N,) that a relabelling step turns into
                probabilities, the number of classes; None when ``y`` are numbers (regression
                targets, a binary 0/1 column) that are mixed as they are.
        """

    def apply(self, X: Any, y: Any, rng: np.random.Generator, rows: Any = None) -> tuple[Any, Any]:
        """The augmented batch ``(X', y')``, new arrays of X's shape and dtype.

        Args:
            X: (N, C, H, W) for an image step, else (N, D); never written to.
            y: (N, ...) targets.
            rng: every random number comes from it.
            rows: (N,) the positions of the batch's rows in the training rows :meth:`fit`
                saw (only steps that look rows up need them: neighbours).
        """
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The step's parameters, as given (shown in its repr and in a checkpoint)."""
        return {}

    def spec(self) -> str:
        """``name(key=value, ...)``: the step and its parameters, in one string."""
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.name}({inner})"

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({inner})"


# --- helpers the steps share --------------------------------------------------------------------

#: Border modes: what lies beyond an image's edge when it is shifted or rotated.
MODES = ("constant", "nearest")


def on_device(values: np.ndarray, like: Any) -> Any:
    """``values`` (drawn on the CPU by a NumPy Generator) on the device of ``like``."""
    xp = xp_of(like)
    return values if xp is np else xp.asarray(values)


def normal_like(rng: np.random.Generator, X: Any) -> Any:
    """Standard normal numbers of X's shape and (float) dtype, on its device."""
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    return on_device(rng.standard_normal(X.shape, dtype=dtype), X)


def image_size(X: Any, name: str) -> tuple[int, int]:
    """(H, W) of an image batch (N, C, H, W)."""
    if X.ndim != 4:
        raise ConfigError(f"{name}: expected images (N, C, H, W), got shape {tuple(X.shape)}")
    return int(X.shape[2]), int(X.shape[3])


def default_pixels(size: tuple[int, int], fraction: float) -> int:
    """``fraction`` of the shorter side, rounded, at least 1 pixel."""
    return max(1, int(round(fraction * min(size))))
