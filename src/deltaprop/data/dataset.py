"""The :class:`Dataset` every loader returns, and the one place that builds it from arrays."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import check_choice
from ..errors import DataError, ShapeError
from .checks import (
    TASKS,
    check_features,
    check_labels,
    check_targets,
    infer_task,
    outside_float32,
    show_first,
)

#: Labels without names are class indices: the largest, L, makes L + 1 classes (the model's
#: outputs). More classes than this many per row is not a class list but a damaged file or a
#: quantity (a label of 1e9 would ask for a model of 1e9 + 1 outputs), refused before any of
#: that is allocated.
CLASSES_PER_ROW = 10


@dataclass
class Dataset:
    """Features and targets with their names.

    Attributes:
        X: float32, shape (n_samples, n_features).
        y: int64 labels 0..k-1 of shape (n_samples,) for classification; float32 of shape
            (n_samples,) for regression with one target, (n_samples, n_targets) with several.
        task: ``"classification"`` or ``"regression"``.
        n_classes: k for classification, None for regression.
        feature_names: one name per column of X.
        target_names: class names (index = label) where known, else None.
        name: the data set's name or the file path.
        image_shape: ``(C, H, W)`` when the rows are images (digits, IDX files, image
            folders, NPZ with 3-D or 4-D X), else None. X stays flat: row i is image i in C
            order, so ``X.reshape(n, C, H, W)`` is the image batch an MLP flattens and a CNN
            keeps (:func:`deltaprop.data.as_images` makes it, and refuses tabular data).
        test_from: when the data came in two parts (an MNIST folder's train and t10k files),
            the first row of its own test part (the rows before it are its training part);
            None when it came as one.
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    n_classes: int | None
    feature_names: list[str]
    target_names: list[str] | None
    name: str
    image_shape: tuple[int, int, int] | None = None
    test_from: int | None = None

    def __post_init__(self) -> None:
        if self.image_shape is not None:
            # Checked here, once: every consumer may then reshape X without checking.
            self.image_shape = check_image_shape(self.image_shape, self.X.shape, self.name)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


def build_dataset(
    X: Any,
    y: Any,
    task: str | None,
    feature_names: list[str],
    target_names: list[str] | None,
    name: str,
    image_shape: tuple[int, int, int] | None = None,
) -> Dataset:
    """Validate arrays read from a file and build the Dataset.

    ``X`` (n, ...) is flattened to float32 (n, d) (images (n, h, w) -> (n, h * w)); text labels
    become 0..k-1 in sorted order (``target_names`` keeps the text); ``task`` None is guessed by
    :func:`infer_task`. y comes out int64 (n,) for classification, float32 (n,) or (n, k) for
    regression. ``image_shape`` (C, H, W) says the rows are images (see :class:`Dataset`).
    Errors name the file (``name``)."""
    X = np.asarray(X)
    d = int(np.prod(X.shape[1:], dtype=np.int64))  # images (n, h, w) -> (n, h * w)
    X = check_features(X.reshape(X.shape[0], d), name=f"{name}: X")
    _refuse_outside_float32(X, f"{name}: X", feature_names)
    X = X.astype(np.float32, copy=False)
    y = np.asarray(y)
    task = None if task is None else check_choice(task, TASKS, "task")
    if y.dtype.kind in "USO":  # text labels -> 0..k-1 in sorted order
        if task == "regression":
            raise DataError(f"{name}: y: expected numbers for regression, got text {show_first(y)}")
        target_names, y = np.unique(y.astype(str), return_inverse=True)
        target_names = [str(t) for t in target_names]
    task = infer_task(y) if task is None else task
    if task == "classification":
        k = len(target_names) if target_names else None
        y = check_labels(y, name=f"{name}: y", n_classes=k)
        n_classes = k or _class_count(y, name)
    else:
        y = check_targets(y, name=f"{name}: y")
        _refuse_outside_float32(y, f"{name}: y")
        y = y.astype(np.float32, copy=False)
        y = y[:, 0] if y.shape[1] == 1 else y
        n_classes, target_names = None, None
    if len(y) != len(X):
        raise DataError(f"{name}: expected as many labels as rows, got {len(X)} rows and {len(y)}")
    return Dataset(X, y, task, n_classes, list(feature_names), target_names, name, image_shape)


def check_image_shape(shape: Any, x_shape: tuple[int, ...], name: str) -> tuple[int, int, int]:
    """``shape`` as ``(C, H, W)`` of positive ints whose product is the row length of flat
    features of shape ``x_shape`` (n, C * H * W); ShapeError naming the data set otherwise."""
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) != 3 or min(dims) < 1 or dims != tuple(shape):
        raise ShapeError(f"{name}: image_shape: expected (C, H, W) of positive ints, got {shape!r}")
    d = math.prod(dims)
    if len(x_shape) != 2 or x_shape[1] != d:
        raise ShapeError(
            f"{name}: image_shape {dims} needs X of shape (n, {d}) (one flat image per row), "
            f"got {tuple(x_shape)}"
        )
    return dims  # type: ignore[return-value]


def _refuse_outside_float32(arr: np.ndarray, name: str, columns: list[str] | None = None) -> None:
    """DataError for finite float64 values (n, d) beyond float32's +-3.4e38: the cast to
    float32 would turn them into inf (NaN and inf were refused before, by the finite check)."""
    if arr.dtype != np.float64:
        return  # check_features made every other dtype float32 already
    bad = outside_float32(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        col = f" (column {columns[j]!r})" if columns and j < len(columns) else ""
        raise DataError(
            f"{name}: expected values within float32's range (+-3.4e38), got {arr[i, j]:g} "
            f"at index ({i}, {j}){col}"
        )


def _class_count(y: np.ndarray, name: str) -> int:
    """The class count of labels 0..k-1 (n,): ``max + 1``, at most :data:`CLASSES_PER_ROW`
    per row."""
    k = int(y.max()) + 1
    if k > CLASSES_PER_ROW * len(y):
        i = int(np.argmax(y))
        raise DataError(
            f"{name}: y: label {y[i]} at index {i} makes {k} classes (labels are class "
            f"indices 0..k-1) for {len(y)} rows; expected at most {CLASSES_PER_ROW} classes "
            "per row: name the classes (target_names), or give the task regression if y is "
            "a quantity"
        )
    return k
