"""Data augmentation: :class:`Augment`, a pipeline of augmentations that ``Trainer.fit`` applies
to every training batch (never to validation or test data, nor in ``evaluate``/``predict``),
with a generator of its own, seeded from the run's seed.

The augmentations, by name (:data:`AUGMENTATIONS`; the Python classes take parameters):

- images (N, C, H, W), or flat rows with ``image_shape=(C, H, W)``
  (:mod:`.augment_image`): ``shift`` (pad and crop at random), ``rotate`` (small rotations),
  ``flip`` (left-right; opt-in only), ``cutout`` (a square covered);
- any rows (:mod:`.augment_table`): ``noise`` (Gaussian, scaled per feature), ``neighbours``
  (towards a same-class neighbour, SMOTE-like; classification), ``mixup`` (pairs of rows and
  their targets mixed; class labels become probabilities).

>>> import numpy as np
>>> aug = Augment("shift,noise", image_shape=(1, 8, 8))
>>> X = np.zeros((4, 64), np.float32); y = np.array([0, 1, 0, 1])
>>> Xa, ya = aug.fit(X, y)(X, y, np.random.default_rng(0))
>>> Xa.shape, Xa.dtype, ya is y
((4, 64), dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..names import lookup, normalize
from .augment_base import Augmentation
from .augment_image import Cutout, RandomFlip, RandomRotation, RandomShift
from .augment_table import GaussianNoise, Mixup, Neighbours

__all__ = [
    "AUGMENTATIONS",
    "Augment",
    "Augmentation",
    "Cutout",
    "GaussianNoise",
    "IMAGE_AUGMENTATIONS",
    "Mixup",
    "Neighbours",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "parse_names",
    "resolve",
]

#: name -> the augmentation it makes (with its default parameters).
AUGMENTATIONS: dict[str, type[Augmentation]] = {
    cls.name: cls
    for cls in (RandomShift, RandomRotation, RandomFlip, Cutout, GaussianNoise, Neighbours, Mixup)
}
ALIASES = {"crop": "shift", "rotation": "rotate", "neighbors": "neighbours", "smote": "neighbours"}
#: The names that need images.
IMAGE_AUGMENTATIONS: tuple[str, ...] = tuple(n for n, c in AUGMENTATIONS.items() if c.images)


def parse_names(value: Any, argument: str = "augment") -> tuple[str, ...]:
    """``"shift, noise,mixup"`` or ``["shift", "noise"]`` -> ``("shift", "noise", "mixup")``,
    each name resolved once (any case, ``-`` or ``_``, aliases such as ``smote``); ``""``,
    ``"none"`` and ``[]`` -> ``()``.

    Raises:
        ConfigError: naming ``argument``: an unknown name (the allowed ones are listed), an
            empty name, a name given twice, or a value that is not a string or a list.
    """
    if isinstance(value, str):
        if normalize(value) in ("", "none"):
            return ()
        parts: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ConfigError(
            f"{argument}: expected names separated by commas, got {type(value).__name__}"
        )
    names: list[str] = []
    for part in parts:
        if isinstance(part, str) and not part.strip():
            raise ConfigError(f"{argument}: expected names separated by commas, got {value!r}")
        key = lookup(AUGMENTATIONS, part, argument, aliases=ALIASES)
        if key in names:
            raise ConfigError(f"{argument}: {key!r} is named twice in {value!r}")
        names.append(key)
    return tuple(names)


def _check_image_shape(shape: Any) -> tuple[int, int, int]:
    ok = isinstance(shape, (tuple, list)) and len(shape) == 3
    ok = ok and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape)
    if not ok or min(shape) < 1:
        raise ConfigError(f"image_shape: expected (C, H, W), three integers >= 1, got {shape!r}")
    return tuple(int(d) for d in shape)  # type: ignore[return-value]


class Augment:
    """Augmentations applied in order to each training batch: ``Augment("shift,noise")``,
    ``Augment([RandomShift(pixels=2), Mixup(alpha=0.4)])``.

    Pass it as ``Trainer.fit(..., augment=aug)`` (names work there too), which fits it on the
    training rows and applies it to every batch. By hand: :meth:`fit` once on the training
    rows, then ``aug(X_batch, y_batch, rng)``.

    Args:
        steps: names (a comma string or a list; see :data:`AUGMENTATIONS`), Augmentation
            objects, or a list mixing both.
        image_shape: (C, H, W) when the rows are flat images (N, C * H * W) (digits: (1, 8,
            8)); image steps need it unless X is (N, C, H, W).
    """

    def __init__(self, steps: Any, image_shape: Sequence[int] | None = None) -> None:
        if isinstance(steps, (str, Augmentation)):
            steps = parse_names(steps) if isinstance(steps, str) else [steps]
        if not isinstance(steps, (list, tuple)):
            raise ConfigError(
                f"augment: expected names or Augmentation objects, got {type(steps).__name__}"
            )
        made = []
        for step in steps:
            if not isinstance(step, Augmentation):
                step = AUGMENTATIONS[lookup(AUGMENTATIONS, step, "augment", aliases=ALIASES)]()
            made.append(step)
        if not made:
            raise ConfigError("augment: expected at least one augmentation, got none")
        self.steps: list[Augmentation] = made
        self.image_shape = None if image_shape is None else _check_image_shape(image_shape)
        self._row_shape: tuple[int, ...] | None = None  # X.shape[1:] that fit saw
        self._image: tuple[int, ...] | None = None  # (C, H, W) the image steps see

    @property
    def names(self) -> tuple[str, ...]:
        """The steps' names, in order."""
        return tuple(step.name for step in self.steps)

    @property
    def relabels(self) -> bool:
        """Whether the targets change (mixup): class labels then become probabilities."""
        return any(step.relabels for step in self.steps)

    def spec(self) -> str:
        """The steps with their parameters (and the image shape) in one string; a
        checkpoint keeps it, and a run resumes only with the same."""
        text = ", ".join(step.spec() for step in self.steps)
        return text if self.image_shape is None else f"{text} on {self.image_shape}"

    def check_images(
        self, image_shape: Any, argument: str = "augment", data: str = "X", images: str = ""
    ) -> None:
        """ConfigError naming ``argument`` when a step needs images and ``image_shape`` is
        None. ``data``: what the message calls the data; ``images``: what image data is, for
        the reader of the message (default: as Python takes it)."""
        needs = [step.name for step in self.steps if step.images]
        if needs and image_shape is None:
            images = images or (
                "images are X of shape (N, C, H, W), or flat rows with "
                "Augment(..., image_shape=(C, H, W))"
            )
            raise ConfigError(
                f"{argument}: {', '.join(needs)} need{'s' if len(needs) == 1 else ''} images, "
                f"and {data} has no image shape ({images}); for other data use "
                f"{', '.join(n for n in AUGMENTATIONS if n not in IMAGE_AUGMENTATIONS)}"
            )

    def fit(self, X: Any, y: Any, classes: Any = None, n_classes: int | None = None) -> Augment:
        """Learn what the steps need from the training rows (per-feature spread, neighbours,
        image size), once; returns self.

        Args:
            X: (N, ...) the training rows, as the batches will come: (N, C, H, W) images or
                (N, D) rows (flat images with ``image_shape``).
            y: (N, ...) their targets.
            classes: (N,) the class of each row for classification (``neighbours`` needs
                them), None for regression.
            n_classes: the number of classes when ``y`` holds labels (N,) that ``mixup``
                turns into probabilities; None when ``y`` are numbers to mix as they are.

        Raises:
            ConfigError: an image step without images; a step that does not fit the data
                (``neighbours`` without classes, a shift as large as the image).
            ShapeError: ``image_shape`` that does not match X's rows.
        """
        row = tuple(int(d) for d in X.shape[1:])
        image = row if X.ndim == 4 else self.image_shape
        if X.ndim == 4 and self.image_shape is not None and self.image_shape != row:
            raise ShapeError(
                f"image_shape: {self.image_shape} given, but X holds images of shape {row}"
            )
        self.check_images(image)
        if image is not None and X.ndim != 4 and math.prod(image) != math.prod(row):
            raise ShapeError(
                f"image_shape: {image} makes {math.prod(image)} values per row; X has rows of "
                f"shape {row}"
            )
        self._image = image
        for step in self.steps:
            step.fit(self._form(X, step), y, classes, n_classes)
        self._row_shape = row
        return self

    def _form(self, X: Any, step: Augmentation) -> Any:
        """X as ``step`` takes it: images (N, C, H, W) or rows (N, D)."""
        n = X.shape[0]
        return X.reshape((n, *self._image)) if step.images else X.reshape(n, -1)

    def __call__(
        self, X: Any, y: Any, rng: np.random.Generator, rows: Any = None
    ) -> tuple[Any, Any]:
        """The augmented batch: new arrays (X is never written to), X's shape and dtype.

        Args:
            X: (N, ...) a batch of rows shaped as in :meth:`fit`; y: (N, ...) its targets.
            rng: the Generator every random number comes from.
            rows: (N,) the batch's positions in the rows :meth:`fit` saw (``neighbours``
                needs them).

        Returns:
            ``(X', y')``: ``y'`` is ``y`` itself unless a step relabels (mixup: class labels
            become (N, n_classes) probabilities in X's dtype).
        """
        if self._row_shape is None:
            raise ConfigError("augment: fit it on the training rows first (Trainer.fit does)")
        if tuple(X.shape[1:]) != self._row_shape:
            raise ShapeError(
                f"augment: expected rows of shape {self._row_shape} (as in fit), got "
                f"{tuple(X.shape[1:])}"
            )
        shape = X.shape
        for step in self.steps:
            X, y = step.apply(self._form(X, step), y, rng, rows)
        return X.reshape(shape), y

    def __repr__(self) -> str:
        shape = "" if self.image_shape is None else f", image_shape={self.image_shape}"
        return f"Augment({self.steps!r}{shape})"


def resolve(value: Any, argument: str = "augment") -> Augment | None:
    """An :class:`Augment` from what a user may pass (``fit``'s ``augment=``): an Augment as
    it is; one Augmentation; names as a comma string or a list (mixed with Augmentation
    objects); None, ``""``, ``"none"`` or ``[]`` -> None (no augmentation)."""
    if value is None or isinstance(value, Augment):
        return value
    if isinstance(value, Augmentation):
        return Augment([value])
    if isinstance(value, str):
        names = parse_names(value, argument)
        return Augment(names) if names else None
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        for item in value:
            if not isinstance(item, (str, Augmentation)):
                raise ConfigError(
                    f"{argument}: expected names or Augmentation objects, got a "
                    f"{type(item).__name__} in the list"
                )
        names = [v for v in value if isinstance(v, str)]
        parse_names(names, argument)  # one message for unknown and repeated names
        return Augment(list(value))
    raise ConfigError(
        f"{argument}: expected an Augment, an Augmentation, or names separated by commas "
        f"({', '.join(AUGMENTATIONS)}), got {type(value).__name__}"
    )
