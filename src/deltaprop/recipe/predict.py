"""Predict with a model file that ``deltaprop train --save`` (or :func:`deltaprop.run`) wrote:
its saved :class:`~deltaprop.data.Preprocessor` picks the file's columns by name, maps the
file's labels through the training classes, scales as training did, reshapes the rows into
images for a model that takes them (the saved ``image_shape``), and maps predictions back to
class names or target units.

>>> # pred = predict_file("iris.safetensors", "new_flowers.csv"); pred.values[:3]
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..data import Preprocessor, load_dataset
from ..data.files import read_table
from ..errors import DataError, ModelFileError
from ..train import Trainer


@dataclass
class Prediction:
    """What a model predicted for ``n`` rows.

    ``values``: (n,) class names (classification) or (n, t) targets in their own units;
    ``proba``: (n, k) class probabilities (classification) or None; ``class_names`` the k
    classes in output order; ``label`` the training label column's name; ``metrics``:
    ``accuracy``, or ``r2``/``mae``/``rmse``, when the data had labels (else empty)."""

    task: str
    values: np.ndarray
    proba: np.ndarray | None
    class_names: list[str] | None
    label: str | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(len(self.values))


def load_model(path: str | os.PathLike) -> tuple[Any, Preprocessor, dict[str, Any]]:
    """``(model, preprocessor, metadata)`` of a model file; files from older versions (only a
    ``"standardizer"``) get an equivalent Preprocessor. ``metadata["image_shape"]`` is there
    when the model takes images (C, H, W)."""
    model, metadata = io.load(path, return_metadata=True)
    info = metadata.get("deltaprop_cli") or {}
    if not info:
        raise DataError(
            f"{path}: has no preprocessing saved (not written by deltaprop train --save)"
        )
    prep = Preprocessor.from_metadata(info)
    shape = info.get("image_shape")
    if shape is not None:
        ok = isinstance(shape, list) and len(shape) == 3
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)
        if not ok or math.prod(shape) != len(prep.input_names):
            raise ModelFileError(
                f"{path}: image_shape {shape!r} in its metadata: expected [C, H, W] whose "
                f"product is the model's {len(prep.input_names)} input columns"
            )
    return model, prep, info


def _label_of(prep: Preprocessor, info: dict[str, Any], header: list[str]) -> str | None:
    """The training label column's name: saved with the model, else (older files) the
    ``--label`` of the settings, else the last column when it is not a feature."""
    label = prep.label or (info.get("settings") or {}).get("label")
    if label is None and header[-1] not in prep.feature_names:
        label = header[-1]
    return label if label in header else None


def read_columns(
    prep: Preprocessor, info: dict[str, Any], path: str, delimiter: str | None = None
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """A CSV file's feature columns by name, in training order, and its label column if it
    has one: ``(X_raw (n, d) text, y_raw (n,) or None, label name)``. Extra columns are
    ignored; a missing feature column is a DataError naming it."""
    if delimiter is None:
        delimiter = (info.get("settings") or {}).get("delimiter")
    header, cells = read_table(Path(path), delimiter)
    missing = [c for c in prep.feature_names if c not in header]
    if missing:
        raise DataError(
            f"{path}: expected the model's feature columns {prep.feature_names}; missing {missing}"
        )
    X_raw = cells[:, [header.index(c) for c in prep.feature_names]]
    label = _label_of(prep, info, header)
    y_raw = cells[:, header.index(label)] if label is not None else None
    return X_raw, y_raw, label


def predict_arrays(
    model: Any,
    prep: Preprocessor,
    X_raw: Any,
    y_raw: Any = None,
    label: str | None = None,
    image_shape: Any = None,
) -> Prediction:
    """Predict raw features (n, d) (in ``prep.feature_names`` order); score against raw
    labels/targets ``y_raw`` (n,) when given. ``image_shape`` (C, H, W): the model takes
    images, and the scaled rows are reshaped to (n, C, H, W) for it (a saved model's
    ``image_shape``, see :func:`load_model`)."""
    X = prep.transform(X_raw)
    if image_shape is not None:
        X = X.reshape(len(X), *(int(s) for s in image_shape))
    regression = prep.task == "regression"
    trainer = Trainer(model, loss="mse" if regression else "cross_entropy", optimizer=None,
                      metrics=[])  # fmt: skip
    out = np.asarray(trainer.predict(X), dtype=np.float64).reshape(len(X), -1)
    name = f"label {label!r}" if label else "y"
    if regression:
        values = prep.decode(out)
        pred = Prediction("regression", values, None, None, label or prep.label)
        if y_raw is not None:
            pred.metrics = _regression_scores(prep.targets(y_raw), values)
        return pred
    classes = out.argmax(axis=1)
    names = prep.class_names or [str(i) for i in range(out.shape[1])]
    values = np.array(names, dtype=object)[classes]
    pred = Prediction("classification", values, out, names, label or prep.label)
    if y_raw is not None:
        y = prep.encode(y_raw, name)
        pred.metrics = {"accuracy": float(np.mean(classes == y))}
    return pred


def _regression_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    scores = {"mae": float(mean_absolute_error(true, pred)),
              "rmse": float(np.sqrt(mean_squared_error(true, pred)))}  # fmt: skip
    if len(true) > 1:
        scores = {"r2": float(r2_score(true, pred)), **scores}
    return scores


def predict_file(
    model_path: str | os.PathLike,
    dataset: str,
    delimiter: str | None = None,
    label: str | None = None,
) -> Prediction:
    """Predict a .csv file (columns by name) or a built-in set / .npz file (columns by
    position; ``label`` names an NPZ array) with a saved model."""
    model, prep, info = load_model(model_path)
    shape = info.get("image_shape")  # the model takes images of this (C, H, W)
    if str(dataset).lower().endswith(".csv"):
        X_raw, y_raw, name = read_columns(prep, info, dataset, delimiter)
        return predict_arrays(model, prep, X_raw, y_raw, name, image_shape=shape)
    ds = load_dataset(dataset, label=label)
    if shape is not None and ds.image_shape is not None and tuple(ds.image_shape) != tuple(shape):
        raise DataError(
            f"{dataset}: images of {_shape_text(ds.image_shape)} (C x H x W); the model "
            f"{model_path} takes {_shape_text(shape)} images"
        )
    y: Any = ds.y
    if ds.task == "classification" and ds.target_names and prep.class_names:
        y = np.array(ds.target_names)[ds.y]  # by name, through the training classes
    elif ds.task != prep.task:
        y = None
    return predict_arrays(model, prep, ds.X, y, None, image_shape=shape)


def _shape_text(shape: Any) -> str:
    return "x".join(str(s) for s in shape)
