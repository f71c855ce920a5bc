"""The run recipe's ``semi`` key: a :class:`~deltaprop.semi.SemiSupervised` method made from a
recipe's options, and the fit the recipe's runner calls for it (registered in
:data:`deltaprop.recipe.scarce.SEMI_FITS` when this package is imported)."""

from __future__ import annotations

from typing import Any

from ..recipe import Recipe
from ..recipe.augmentation import IMAGE_DATA
from ..recipe.build import RunData
from ..recipe.scarce import SEMI_FITS
from ..train import Trainer
from ..train.callbacks import History
from .base import SemiSupervised
from .mean_teacher import MeanTeacher
from .self_training import SelfTraining

#: recipe key -> the method's argument, per method.
OPTIONS: dict[str, dict[str, str]] = {
    "self-training": {"semi_threshold": "threshold", "semi_rounds": "rounds"},
    "mean-teacher": {"semi_weight": "weight", "semi_ramp_up": "ramp_up",
                     "semi_ema_decay": "ema_decay", "semi_augment": "augment"},
}  # fmt: skip


def method_from_recipe(recipe: Recipe, data: RunData) -> SemiSupervised:
    """The recipe's method with the options it gives (the others keep the method's
    defaults). Mean teacher's image steps take the data's image shape when the model takes
    flat rows (an MLP on digits).

    Raises:
        ConfigError: naming ``semi_augment``: image steps on data without an image shape.
    """
    options: dict[str, Any] = {
        arg: getattr(recipe, key)
        for key, arg in OPTIONS[recipe.semi].items()
        if getattr(recipe, key) is not None
    }
    if recipe.semi == "self-training":
        return SelfTraining(**options)
    flat = data.X_train.ndim == 2
    image_shape = getattr(data.ds, "image_shape", None)
    method = MeanTeacher(**options, image_shape=image_shape if flat else None)
    made = method._made_augment()  # noqa: SLF001 - checked here to name the recipe's key
    if made is not None:
        shape = image_shape if flat else tuple(data.X_train.shape[1:])
        made.check_images(shape, recipe.show("semi_augment"), data.ds.name, IMAGE_DATA)
    return method


def fit_recipe(
    recipe: Recipe, trainer: Trainer, data: RunData, fit_kwargs: dict[str, Any], verbose: bool
) -> History:
    """Train ``trainer`` as the recipe's ``semi`` method on the labeled ``data.X_train`` and
    ``data.X_unlabeled`` (``fit_kwargs``: :func:`~deltaprop.recipe.fit_kwargs`; its
    ``validation_split`` holds out labeled rows)."""
    method = method_from_recipe(recipe, data)
    return method.fit(trainer, data.X_train, data.y_train, data.X_unlabeled, verbose=verbose,
                      **fit_kwargs)  # fmt: skip


SEMI_FITS.update(dict.fromkeys(OPTIONS, fit_recipe))
