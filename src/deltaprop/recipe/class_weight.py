"""``class_weight``: per-class loss weights for imbalanced classification data."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .spec import Recipe


def class_weights(recipe: Recipe, n_out: int, y_train: Any) -> np.ndarray | None:
    """The (n_out,) per-class loss weights of ``recipe.class_weight``: None for none;
    "balanced" is scikit-learn's n_rows / (n_classes * rows of the class) on ``y_train``."""
    if recipe.class_weight is None:
        return None
    name = recipe.show("class_weight")
    if y_train is None:
        raise ConfigError(f"{name}: 'balanced' needs the training labels (y_train), got None")
    from sklearn.utils.class_weight import compute_class_weight  # here: startup time

    y = np.asarray(y_train).ravel()
    missing = sorted(set(range(n_out)) - set(np.unique(y).tolist()))
    if missing:  # sklearn's own error names neither the option nor the class
        raise ConfigError(
            f"{name}: 'balanced' needs every class in the training part, got no rows of "
            f"class{'es' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
        )
    return compute_class_weight("balanced", classes=np.arange(n_out), y=y)
