"""The ``synthetic`` key: labelled rows from a file (``deltaprop synth`` writes them) mixed
into a run's TRAINING rows only, never into its validation or test part.

The file is read like any data file (``.npz``, ``.csv``, ...). Its rows must be rows of the
run's data set: the same number of features (and the same feature names, when the file names
them), class labels matched by name. They go through the run's preprocessing, fitted on the
real training rows alone. The validation part (``validation_split``) is held out of the real
rows first, as ``fit`` would hold it out, and the synthetic rows are added to the rest.

A file from ``deltaprop synth`` records the split its GAN was trained on; a run whose split
differs gets a warning: that GAN may have seen this run's test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import report
from ..data import load_dataset
from ..data.npz import read_npz
from ..errors import ConfigError, DataError, DeltapropError
from ..train.validation import holdout_indices
from .rundata import RunData
from .spec import Recipe

PROVENANCE = ("synthetic_source", "synthetic_seed", "synthetic_test_size")


def load_synthetic(recipe: Recipe, data: RunData) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: the ``synthetic`` file's rows as the model takes them (preprocessed; image
    views for a cnn) and their labels 0..k-1 in the run's classes.

    Raises:
        ConfigError: the run is not a classification, or ``cv`` is set (its folds would
            score synthetic rows).
        DataError naming the file: unreadable, features that do not match the data set's,
            class names the data set does not have.
    """
    path, name = recipe.synthetic, recipe.show("synthetic")
    if not data.classification:
        raise ConfigError(f"{name}: synthetic rows are labelled by class; the task is "
                          "regression")  # fmt: skip
    if recipe.cv is not None:
        raise ConfigError(f"{name}: not with {recipe.show('cv')}: the folds would score "
                          "synthetic rows; cross-validate on the real data alone")  # fmt: skip
    try:
        ds = load_dataset(path)
    except DeltapropError as exc:
        raise DataError(f"{name}: {exc}") from None
    prep = data.prep
    features = list(prep.feature_names) if prep is not None else list(data.ds.feature_names)
    n = int(np.prod(ds.X.shape[1:]))
    if n != len(features):
        raise DataError(
            f"{name}: {path} has rows of {n} features, the data set {data.ds.name} has "
            f"{len(features)}; expected rows made from it (deltaprop synth --dataset "
            f"{data.ds.name})"
        )
    given = [str(f) for f in ds.feature_names]
    if given != [f"x{i}" for i in range(n)] and given != features:  # named, differently
        wrong = next(i for i, (a, b) in enumerate(zip(given, features)) if a != b)
        raise DataError(
            f"{name}: {path}'s features do not match the data set {data.ds.name}'s: column "
            f"{wrong} is {given[wrong]!r}, expected {features[wrong]!r}"
        )
    run_classes = [str(c) for c in (data.ds.target_names or range(data.n_out))]
    file_classes = [str(c) for c in (ds.target_names or range(ds.n_classes or 0))]
    unknown = sorted({file_classes[i] for i in np.unique(ds.y)} - set(run_classes))
    if unknown:
        raise DataError(
            f"{name}: {path} has labels {', '.join(map(repr, unknown))}, which are not classes "
            f"of {data.ds.name} ({', '.join(run_classes)})"
        )
    lookup = np.asarray([run_classes.index(c) if c in run_classes else -1 for c in file_classes])
    y = lookup[ds.y].astype(data.y_train.dtype)
    try:
        X = prep.transform(ds.X) if prep is not None else data.scaler.transform(ds.X)
    except DeltapropError as exc:
        raise DataError(f"{name}: {path}: {exc}") from None
    if data.X_train.ndim == 4:
        X = X.reshape(len(X), *data.X_train.shape[1:])
    _check_provenance(recipe, data, path)
    return X.astype(data.X_train.dtype, copy=False), y


def _check_provenance(recipe: Recipe, data: RunData, path: str) -> None:
    """Warn when the file's GAN was trained on another split than this run's."""
    if not str(path).lower().endswith(".npz"):
        return
    found, _ = read_npz(path, list(PROVENANCE))
    if len(found) < len(PROVENANCE):
        return
    source = str(found["synthetic_source"].item())
    seed = int(found["synthetic_seed"].item())
    test_size = float(found["synthetic_test_size"].item())
    if source != data.ds.name or seed != recipe.seed or abs(test_size - recipe.test_size) > 1e-12:
        report.warn(
            f"{recipe.show('synthetic')}: {path} was made from the training part of {source} "
            f"with seed {seed} and test_size {test_size:g}; this run splits {data.ds.name} with "
            f"{recipe.show('seed')} {recipe.seed} and {recipe.show('test_size')} "
            f"{recipe.test_size:g}, so its GAN may have seen this run's test rows"
        )


def training_rows(
    recipe: Recipe, data: RunData, kwargs: dict[str, Any]
) -> tuple[Any, Any, dict[str, Any], str | None]:
    """``(X, y, fit_kwargs, note)`` for the run's ``fit``: the training rows as they are, or,
    with ``synthetic``, the real rows minus the validation part plus the synthetic rows, the
    validation part given as ``validation_data``; ``note`` says what was mixed in."""
    if not recipe.synthetic:
        return data.X_train, data.y_train, kwargs, None
    X_syn, y_syn = load_synthetic(recipe, data)
    X, y = data.X_train, data.y_train
    kwargs = dict(kwargs)
    fraction = kwargs.pop("validation_split", None)
    if fraction:
        tr, va = holdout_indices(y, fraction, stratify=True)  # the rows fit would hold out
        kwargs["validation_data"] = (X[va], y[va])
        X, y = X[tr], y[tr]
    note = (f"synthetic: {len(X_syn)} rows from {recipe.synthetic} added to {len(X)} real "
            "training rows (validation and test: real rows only)")  # fmt: skip
    return np.concatenate([X, X_syn]), np.concatenate([y, y_syn]), kwargs, note
