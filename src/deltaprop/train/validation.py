"""A held-out fraction of the training rows for ``fit``'s ``validation_split``.

The splitting itself is scikit-learn's (through :mod:`deltaprop.data.split`); this module
decides which rows are held out. k-fold cross-validation, which builds Trainers, is in
:mod:`deltaprop.train.crossval` (so that this module, which the Trainer uses, needs no Trainer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..data.split import train_test_split
from ..errors import DataError

# validation_split is a property of the data, not of a run: the same rows on every call,
# whatever fit's seed or dp.seed (and drawing nothing from deltaprop's generator).
_HOLDOUT_SEED = 0


def holdout_indices(labels: Any, fraction: float, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``, each sorted (rows keep their order), for a held-out fraction.

    ``labels`` are (N,) class labels when ``stratify`` (each class keeps its share in both
    parts; a class too small for that falls back to a plain split with a warning), anything
    with N rows otherwise. The split is the same on every call (a fixed seed).
    """
    labels = np.asarray(labels)
    rows = np.arange(len(labels))
    tr, va, _, _ = train_test_split(
        rows, labels, test_size=fraction, stratify=stratify, seed=_HOLDOUT_SEED
    )
    return np.sort(tr), np.sort(va)


def split_off(X, y, fraction: float, task: str):
    """``(X_train, y_train, (X_val, y_val))`` from prepared arrays, for ``fit``'s
    ``validation_split``; stratified by class for classification."""
    y_np = backend.to_numpy(y)
    if task == "classification":
        labels = y_np.reshape(-1).astype(np.int64)  # (N, 1) 0./1. floats for BCE, too
    else:
        labels = np.zeros(len(y_np))
    try:
        tr, va = holdout_indices(labels, fraction, stratify=task == "classification")
    except DataError as exc:
        raise DataError(str(exc).replace("test_size", "validation_split")) from None
    xp = backend.xp_of(X)
    tr, va = xp.asarray(tr), xp.asarray(va)
    return X[tr], y[tr], (X[va], y[va])
