"""Columns of raw cells: missing values, numbers in text, and the guess of the task from a
target column (:func:`guess_task`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .checks import outside_float32

MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
#: More distinct whole-number targets than this (with few rows each) is not a class list.
MANY_CLASSES = 20
FEW_ROWS_PER_CLASS = 5


def is_missing(cells: np.ndarray) -> np.ndarray:
    """(n,) bool: NaN numbers or missing-value text ("", "NA", "?", ...)."""
    if cells.dtype.kind == "f":
        return np.isnan(cells)
    if cells.dtype.kind in "biu":
        return np.zeros(cells.shape, bool)
    return np.array([str(c).strip().lower() in MISSING for c in cells], dtype=bool)


def as_numbers(cells: np.ndarray) -> np.ndarray | None:
    """(n,) float64 with NaN for missing cells, or None when some cell is text."""
    if cells.dtype.kind in "biuf":
        return cells.astype(np.float64)
    out = np.full(cells.shape, np.nan)
    missing = is_missing(cells)
    try:
        out[~missing] = [float(c) for c in cells[~missing]]
    except ValueError:
        return None
    return out


def refuse_outside_float32(raw: np.ndarray, names: list[str], where: str) -> None:
    """DataError naming the first number in the cells ``raw`` (n, d) that float32 cannot hold
    (``inf``, or beyond +-3.4e38 like ``1e39``, which would become inf without a word), with
    its row of the file (1 = the first data row), line and column. NaN and other missing
    cells, and columns with text, are left to the checks made for them."""
    raw = raw.reshape(len(raw), -1)
    for j, col in enumerate(names):
        try:
            numbers = raw[:, j].astype(np.float64)  # vectorized; missing text falls back
        except ValueError:
            numbers = as_numbers(raw[:, j])
        if numbers is None:
            continue
        bad = outside_float32(numbers) & ~np.isnan(numbers)
        if bad.any():
            r = int(np.argmax(bad))
            raise DataError(
                f"{where}: row {r + 1} (line {r + 2}), column {col!r}: expected a finite "
                f"number within float32's range (+-3.4e38), got {str(raw[r, j])!r}"
            )


def refuse_float32_overflow(numbers: np.ndarray, cells: np.ndarray, where: str) -> None:
    """DataError naming the first row (1 = the first row given) of ``numbers`` (n,) or (n, t)
    that float32 cannot hold (inf, or beyond +-3.4e38), showing its cell as written; NaN is a
    missing value, checked on its own."""
    bad = outside_float32(numbers) & ~np.isnan(numbers)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{where}: row {i[0] + 1}: expected a finite number within float32's range "
            f"(+-3.4e38), got {str(cells[i])!r}"
        )


def refuse_stray_text(cells: np.ndarray, col: str) -> None:
    """A column of numbers with a few text cells is a typo, not a categorical column: one-hot
    encoding it would silently turn every number into a category. DataError naming the column
    and the first text value when more than half of the present cells are numbers."""
    present = [str(c) for c, m in zip(cells, is_missing(cells)) if not m]
    text = [c for c in present if not _is_number(c)]
    if text and len(text) < len(present) / 2:
        raise DataError(
            f"column {col!r}: expected numbers, got text in {len(text)} of {len(present)} "
            f"cells (first: {text[0]!r}); fix those cells, mark them missing (NA), or drop "
            "the column"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def guess_task(y: Any, name: str = "task") -> tuple[str, str]:
    """``(task, why)`` from raw targets (n,): text is classification; fractions, or more than
    :data:`MANY_CLASSES` whole numbers written as floats ("151.0"), are regression; more than
    that many integers with under :data:`FEW_ROWS_PER_CLASS` rows each is a ConfigError that
    asks for ``name``; other whole numbers are classes."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return "regression", f"{y.shape[1]} target columns"
    y = y.reshape(-1)
    values = as_numbers(y)
    if values is None:
        return "classification", "the labels are text"
    if np.isnan(values).any():
        return "classification", "labels"  # the missing label is reported by the encoder
    k = len(np.unique(values))
    if not np.all(values == np.round(values)):
        return "regression", "the target has fractional values"
    as_floats = y.dtype.kind == "f" or any("." in str(v) or "e" in str(v).lower() for v in y)
    if k > MANY_CLASSES and as_floats:
        return "regression", f"{k} distinct whole numbers written as floats"
    if k > MANY_CLASSES and len(y) / k < FEW_ROWS_PER_CLASS:
        raise ConfigError(
            f"{name}: expected classification or regression; the target has {k} distinct "
            f"integers with {len(y) / k:.1f} rows each on average, which could be either: "
            f"give {name} classification or {name} regression"
        )
    return "classification", f"{k} distinct whole-number labels"


def label_name(v: float) -> str:
    """A class value as a name: ``1.0`` -> ``"1"``, ``0.5`` -> ``"0.5"``."""
    v = float(v)
    return str(int(v)) if math.isfinite(v) and v == int(v) else repr(v)


def refuse_missing(X_raw: np.ndarray, names: list[str], where: str) -> None:
    """DataError naming the first column of X_raw (n, d) with a missing cell, with the count
    and the first row of the file (1 = the first data row), and the ``--impute`` remedy."""
    for j, col in enumerate(names):
        missing = is_missing(X_raw[:, j])
        if missing.any():
            r = int(np.argmax(missing)) + 1
            raise DataError(
                f"{where}: column {col!r}: expected a value in every row, got "
                f"{int(missing.sum())} missing (empty, NA or NaN; the first in row {r}, "
                f"line {r + 1}); pass --impute mean or median to fill them"
            )
