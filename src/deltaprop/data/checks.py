"""Input validation at the boundary (Trainer, CLI, data loaders).

Every function here turns user input into the arrays the engine expects, or raises an error that
names the argument, says what was expected and what came. Nothing downstream re-checks, so these
are the only places a NaN, a ragged list or a label of -1 can be caught with a useful message.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..checks import check_choice
from ..errors import DataError, ShapeError

TASKS = ("classification", "regression")


def _as_array(a: Any, name: str) -> np.ndarray:
    """``np.asarray`` that turns ragged lists and other failures into a DataError."""
    if a is None:
        raise DataError(f"{name}: expected an array, got None")
    try:
        arr = to_numpy(a)  # CuPy arrays do not convert implicitly; copy them over first
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}: expected a rectangular array of numbers, got {exc}") from exc
    # Numbers that came through a mixed-type container; text stays text for the caller to report.
    if arr.dtype == object and all(isinstance(v, numbers.Real) for v in arr.flat):
        arr = arr.astype(np.float64)
    return arr


def show_first(arr: np.ndarray) -> str:
    """repr of the first element as plain Python ('cat', not np.str_('cat'))."""
    if arr.size == 0:
        return "none"
    v = arr.flat[0]
    return repr(v.item() if isinstance(v, np.generic) else v)


def _float_dtype(arr: np.ndarray, name: str, given: Any) -> np.dtype:
    """float64 arrays stay float64 (gradient checks use them); everything else becomes float32.

    ``given`` is the caller's object: a Python list of floats is not a request for float64.
    """
    if arr.dtype == np.float64 and getattr(given, "dtype", None) == np.float64:
        return np.dtype(np.float64)
    if arr.dtype.kind in "biuf":
        return np.dtype(np.float32)
    if arr.dtype.kind == "c":
        raise DataError(f"{name}: expected real numbers, got complex values (dtype {arr.dtype})")
    raise DataError(
        f"{name}: expected numbers, got dtype {arr.dtype} (first value {show_first(arr)}); "
        "convert text columns to numbers first"
    )


def outside_float32(values: np.ndarray) -> np.ndarray:
    """bool mask of ``values`` (numbers, any shape): the entries that are not finite as
    float32, i.e. NaN, +-inf, and finite float64 values beyond float32's +-3.4e38, which the
    cast to float32 every model input goes through would silently turn into inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        return ~np.isfinite(np.asarray(values).astype(np.float32))


def _check_finite(arr: np.ndarray, name: str) -> None:
    """Raise DataError with the count and first position of NaN/Inf values."""
    bad = ~np.isfinite(arr)
    if bad.any():
        count = int(bad.sum())
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 else first
        value = arr[first]
        raise DataError(
            f"{name}: expected finite values, got {count} NaN/Inf value(s); "
            f"the first is {value} at index {where}"
        )


def check_features(
    X: Any, name: str = "X", n_features: int | None = None, allow_nd: bool = False
) -> np.ndarray:
    """Validate a feature matrix and return it as a float ndarray.

    Args:
        X: array-like of shape (n_samples, n_features); with ``allow_nd=True`` also
            (n_samples, ...) such as images (n, channels, height, width).
        name: the argument name used in error messages.
        n_features: the model's input size; checked against ``X.shape[1]`` when given.
        allow_nd: accept arrays with more than two dimensions.

    Returns:
        float64 if ``X`` is a float64 array, else float32 (lists too); same shape as ``X``.
        No copy when ``X`` is already a float32/float64 ndarray.

    Raises:
        ShapeError: wrong number of dimensions or features.
        DataError: empty, non-numeric, NaN or Inf.
    """
    arr = _as_array(X, name)
    if arr.ndim != 2 and not (allow_nd and arr.ndim > 2):
        expected = "(n_samples, n_features)" + (" or (n_samples, ...)" if allow_nd else "")
        hint = "; for one feature use X.reshape(-1, 1)" if arr.ndim == 1 else ""
        raise ShapeError(f"{name}: expected a {expected} array, got shape {arr.shape}{hint}")
    if arr.size == 0:
        raise DataError(
            f"{name}: expected at least one sample and one feature, got shape {arr.shape}"
        )
    arr = arr.astype(_float_dtype(arr, name, X), copy=False)
    _check_finite(arr, name)
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(
            f"{name}: expected {n_features} features (the model's input size), got {arr.shape[1]}"
        )
    return arr


def check_labels(y: Any, name: str = "y", n_classes: int | None = None) -> np.ndarray:
    """Validate class labels and return them as int64 of shape (n_samples,).

    Labels must be integers 0..k-1. Floats that are exact integers (``2.0``) are accepted; an
    (n, 1) column is flattened. Strings must be mapped to integers first (``load_dataset`` does
    that for files).

    Raises:
        DataError: empty, strings, NaN, non-integer floats, negative labels, or labels
            ``>= n_classes`` when ``n_classes`` is given.
        ShapeError: not 1-D (or an (n, 1) column).
    """
    arr = _as_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ShapeError(
            f"{name}: expected a 1-D array of class labels (n_samples,), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise DataError(f"{name}: expected at least one label, got an empty array")
    expected = "integer class labels 0..k-1"
    if n_classes is not None:
        expected = f"integer class labels 0..{n_classes - 1} (n_classes={n_classes})"
    if arr.dtype.kind not in "biuf":
        raise DataError(
            f"{name}: expected {expected}, got dtype {arr.dtype} (first value {show_first(arr)}); "
            "map text labels to integers first"
        )
    if arr.dtype.kind == "f":
        # NaN fails the equality too, so one test covers NaN, Inf and fractions.
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(arr) & (arr == np.round(arr)))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{name}: expected {expected}, got {arr[i]} at index {i}")
    labels = arr.astype(np.int64, copy=False)
    if labels.min() < 0:
        i = int(np.argmax(labels < 0))
        raise DataError(f"{name}: expected {expected}, got {labels[i]} at index {i}")
    if n_classes is not None and labels.max() >= n_classes:
        i = int(np.argmax(labels >= n_classes))
        raise DataError(f"{name}: expected {expected}, got {labels[i]} at index {i}")
    return labels


def check_targets(y: Any, name: str = "y") -> np.ndarray:
    """Validate regression targets and return a float array of shape (n_samples, n_targets).

    A 1-D ``y`` of shape (n,) becomes (n, 1). float64 stays float64; other dtypes become float32.

    Raises:
        DataError: empty, non-numeric, NaN or Inf.
        ShapeError: more than two dimensions.
    """
    arr = _as_array(y, name)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected (n_samples,) or (n_samples, n_targets), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise DataError(f"{name}: expected at least one target value, got shape {arr.shape}")
    arr = arr.astype(_float_dtype(arr, name, y), copy=False)
    _check_finite(arr, name)
    return arr


def infer_task(y: Any) -> str:
    """Guess ``"classification"`` or ``"regression"`` from the targets.

    Integers, booleans, text, and floats that are all exact integers in a single column mean
    classification (as scikit-learn's ``type_of_target``); anything else is regression. Pass the
    task explicitly when integer-valued targets are really quantities.
    """
    arr = _as_array(y, "y")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        return "regression"
    if arr.dtype.kind in "biuUSO":
        return "classification"
    if arr.dtype.kind == "f" and arr.size:
        with np.errstate(invalid="ignore"):
            if np.all(np.isfinite(arr) & (arr == np.round(arr))):
                return "classification"
    return "regression"


def check_X_y(
    X: Any,
    y: Any,
    task: str | None = "classification",
    n_features: int | None = None,
    n_classes: int | None = None,
    allow_nd: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate features and targets together.

    Args:
        X: (n_samples, n_features) features (see :func:`check_features`).
        y: (n_samples,) class labels for classification; (n_samples,) or (n_samples, n_targets)
            for regression.
        task: ``"classification"``, ``"regression"``, or None to :func:`infer_task` from ``y``.
        n_features, n_classes: the model's sizes, checked when given.

    Returns:
        ``(X, y)``: X as from :func:`check_features`; y int64 (n,) for classification, float
        (n, n_targets) for regression.
    """
    if task is None:
        task = infer_task(y)
    else:
        task = check_choice(task, TASKS, "task")
    X = check_features(X, "X", n_features=n_features, allow_nd=allow_nd)
    if task == "classification":
        y = check_labels(y, "y", n_classes=n_classes)
    else:
        y = check_targets(y, "y")
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"X and y: expected the same number of rows, got {X.shape[0]} and {y.shape[0]}"
        )
    return X, y
