"""What a run says about itself in words: its header line, and its errors naming the key as
the user typed it (kept apart from :mod:`.runner`, which does the work)."""

from __future__ import annotations

import math

from .architecture_build import shape_text
from .build import RunData
from .models import build_model, model_description
from .spec import Recipe
from .transfer import describe as transfer_description

__all__ = ["name_paths", "run_header"]


def run_header(recipe: Recipe, data: RunData) -> str:
    """The run in one line, before training: rows of each part, features, classes (or
    regression) and the model, e.g. ``digits: 1437 train / 360 test rows, 64 features,
    10 classes; MLP 64-256-128-10 relu``, or ``..., 1x8x8 images, 10 classes; CNN 1x8x8 conv
    32-64 dense 256-128-10 relu`` (see :func:`~deltaprop.recipe.models.model_description`)."""
    n_train, n_test = len(data.y_train), len(data.y_test)
    rows = f"{n_train} train / {n_test} test rows"
    if recipe.validation_split:  # the Trainer holds out ceil(fraction * n), as scikit-learn
        n_val = math.ceil(recipe.validation_split * n_train)
        rows = f"{n_train - n_val} train + {n_val} validation / {n_test} test rows"
    if data.X_unlabeled is not None:  # labels_per_class: validation rows are labeled rows
        n_val = math.ceil(recipe.validation_split * n_train) if recipe.validation_split else 0
        val = f" + {n_val} validation" if n_val else ""
        rows = (f"{n_train - n_val} labeled{val} + {len(data.X_unlabeled)} unlabeled train "
                f"({recipe.labels_per_class} labeled per class) / {n_test} test rows")  # fmt: skip
    if data.classification:
        target = f"{data.n_out} classes"
    else:
        target = "regression" + (f" ({data.n_out} targets)" if data.n_out > 1 else "")
    features = f"{data.n_in} features"
    if len(data.input_shape) == 3:  # the model takes the rows as images
        features = f"{shape_text(data.input_shape)} images"
    model = model_description(recipe, data.input_shape, data.n_out)
    if recipe.augment:
        model += f", augment {recipe.augment}"
    # init_from, freeze, head/body lr: checked here, so that a bad one fails before any line
    model += transfer_description(recipe, build_model, data.input_shape, data.n_out)
    if recipe.semi != "none":
        model += f", semi {recipe.semi}"
    return f"{data.ds.name}: {rows}, {features}, {target}; {model}"


def name_paths(message: str, recipe: Recipe) -> str:
    """A fit error about the checkpoint or resume file, naming the key as the user typed it
    (``--resume: nosuch.ckpt: no such file``) instead of ``fit``'s argument or only the path."""
    for key, arg in (("resume", "resume_from"), ("checkpoint", "checkpoint")):
        if message.startswith(arg + ":"):
            return recipe.show(key) + message[len(arg) :]
    if recipe.resume and message.startswith(str(recipe.resume) + ":"):
        return f"{recipe.show('resume')}: {message}"
    return message


def test_summary(metrics: dict) -> str:
    """The test scores of a run's metrics as one line's words: ``test_accuracy 0.9722
    test_loss 0.1023`` for classification; for regression R^2, MAE and RMSE in the target's
    own units before the (scaled) loss."""
    m = metrics
    summary = f"test_loss {m['test_loss']:.4f}"
    if "test_accuracy" in m:
        summary = f"test_accuracy {m['test_accuracy']:.4f}  " + summary
    if "test_r2" in m:
        summary = (
            f"test_r2 {m['test_r2']:.4f}  test_mae {m['test_mae']:.4g}  "
            f"test_rmse {m['test_rmse']:.4g}  " + summary
        )
    return summary
