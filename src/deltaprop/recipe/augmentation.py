"""The recipe's ``augment`` key made into the :class:`~deltaprop.data.augment.Augment` that
``fit`` applies to the training batches, checked against the run's data first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..data.augment import Augment
from ..errors import ConfigError
from .spec import Recipe

if TYPE_CHECKING:
    from .build import RunData

#: What has an image shape, for a message to a user who asked for image augmentation.
IMAGE_DATA = (
    "image data: digits, IDX (MNIST) files, a folder of images per class, an NPZ file whose X "
    "is (N, C, H, W) or (N, H, W)"
)


def build_augment(recipe: Recipe, data: RunData) -> Augment | None:
    """The recipe's augmentation of the training batches, or None. Image steps take the
    data's image shape (``Dataset.image_shape``, (1, 8, 8) for digits).

    Raises:
        ConfigError: naming ``augment``: an image step on data without an image shape, or
            ``neighbours`` (same-class neighbours) on a regression task.
    """
    if recipe.augment is None:
        return None
    image_shape = getattr(data.ds, "image_shape", None)
    augment = Augment(recipe.augment, image_shape=image_shape)
    augment.check_images(image_shape, recipe.show("augment"), data.ds.name, IMAGE_DATA)
    if "neighbours" in augment.names and not data.classification:
        raise ConfigError(
            f"{recipe.show('augment')}: neighbours moves rows towards rows of their own class, "
            f"and {data.ds.name} is a regression task; use noise or mixup"
        )
    return augment
