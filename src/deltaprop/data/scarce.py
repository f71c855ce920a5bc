"""Scarce labels: keep K labeled rows per class and treat the rest as unlabeled.

The scarce-label set-up of semi-supervised training (``deltaprop train --labels-per-class K``):
of a training part whose labels are all known, the seed picks K rows of every class to keep
their labels; the other rows are the unlabeled pool (their labels are dropped by the caller).

>>> import numpy as np
>>> y = np.array([0, 0, 0, 1, 1, 1, 1])
>>> labeled, unlabeled = labeled_per_class(y, 2, seed=0)
>>> np.bincount(y[labeled]).tolist(), len(unlabeled)
([2, 2], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import check_int
from ..errors import ConfigError, DataError
from .seeding import seed_int

#: A stream of its own, apart from the train/test split's ``random_state=seed``: the same
#: seed then picks the same test part with or without ``labels_per_class``. Bytes of "lpc".
LABELS_STREAM = 0x6C7063


def labeled_per_class(
    y: Any,
    k: int,
    seed: int | None = None,
    name: str = "labels_per_class",
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(labeled, unlabeled)``: sorted row indices, K rows of every class in ``labeled``
    (chosen at random by ``seed``), all the other rows in ``unlabeled``.

    Args:
        y: (N,) integer class labels 0..C-1 (every class from 0 to the largest label must
            have rows).
        k: labeled rows to keep per class, >= 1.
        seed: makes the choice reproducible; None draws from deltaprop's generator (which
            ``dp.seed`` sets).
        name: how messages name ``k`` (``"--labels-per-class"`` from the command line).
        class_names: the classes' names for messages (default: their numbers).

    Raises:
        ConfigError: ``k`` not an integer >= 1, or larger than the rows of the smallest class
            (the message names that class and how many rows it has).
        DataError: ``y`` not (N,) integer labels.
    """
    k = check_int(k, name)
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or (y.dtype.kind not in "iub" and not _integral(y)):
        raise DataError(f"y: expected (N,) integer class labels, got shape {y.shape} {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"y: expected class labels >= 0, got {int(y.min())}")
    counts = np.bincount(y)
    smallest = int(np.argmin(counts))
    if counts[smallest] < k:
        shown = class_names[smallest] if class_names is not None else smallest
        raise ConfigError(
            f"{name}: expected at most {int(counts[smallest])}, the rows of the smallest class "
            f"({shown!r} has {int(counts[smallest])} in the training part), got {k}"
        )
    rng = np.random.default_rng((seed_int(seed), LABELS_STREAM))
    keep = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c in range(len(counts))]
    labeled = np.sort(np.concatenate(keep))
    unlabeled = np.setdiff1d(np.arange(len(y)), labeled)
    return labeled, unlabeled


def _integral(y: np.ndarray) -> bool:
    """Float labels holding whole numbers (a CSV's labels may come so)."""
    return y.dtype.kind == "f" and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))
