"""Augmentations of rows of features (a table, or an image's pixels taken as features):
Gaussian noise scaled per feature, interpolation towards a same-class neighbour (SMOTE-like),
and mixup.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import to_numpy, xp_of
from ..checks import check_int, check_real
from ..errors import ConfigError
from .augment_base import Augmentation, normal_like, on_device


class GaussianNoise(Augmentation):
    """Add Gaussian noise to every feature, scaled by that feature's spread in the training
    rows: ``x_j + std * sd_j * e``, e ~ N(0, 1), sd_j the standard deviation of feature j
    (measured once, by :meth:`fit`). A feature that never varies gets none; a feature in
    thousands gets noise in thousands. On standardized data (sd_j = 1) ``std`` is the
    noise's standard deviation.

    Args:
        std: the noise's standard deviation, in units of each feature's own.
    """

    name = "noise"

    def __init__(self, std: float = 0.1):
        self.std = check_real(std, "std", strict=True)
        self._scale: Any = None

    def params(self) -> dict[str, Any]:
        return {"std": self.std}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        # float64 sums: a float32 variance over many rows loses digits
        self._scale = (X.std(axis=0, dtype=np.float64) * self.std).astype(X.dtype)

    def apply(self, X, y, rng, rows=None):
        return X + self._scale * normal_like(rng, X), y


class Neighbours(Augmentation):
    """Move every row a random part of the way towards one of its ``k`` nearest neighbours of
    the same class (SMOTE's rule for a synthetic row): ``x + u (x_nb - x)``, u ~ U(0, 1), the
    neighbour drawn uniformly from the ``k``. Classification only.

    The neighbours are found once, by :meth:`fit`, with scikit-learn's NearestNeighbors
    (Euclidean) on the training rows of each class; a row's own class is its only
    neighbourhood, so the moved row stays between two rows of its class. A class with a
    single row leaves that row where it is. Batches must say where their rows are in the
    training rows (``rows=``; ``fit(..., augment=...)`` does).

    Args:
        k: neighbours per row (fewer in a class of k rows or less).
    """

    name = "neighbours"

    def __init__(self, k: int = 5):
        self.k = check_int(k, "k")
        self._table: Any = None

    def params(self) -> dict[str, Any]:
        return {"k": self.k}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        if classes is None:
            raise ConfigError(
                "neighbours: needs class labels (classification): it moves a row towards a "
                "row of its own class; for regression use noise or mixup"
            )
        # Imported on first use, like every scikit-learn module deltaprop uses.
        from sklearn.neighbors import NearestNeighbors

        rows, classes = to_numpy(X), to_numpy(classes).reshape(-1)
        n = len(rows)
        table = np.repeat(np.arange(n)[:, None], self.k, axis=1)  # no neighbour: itself
        counts = np.zeros(n, dtype=np.int64)
        for c in np.unique(classes):
            members = np.flatnonzero(classes == c)
            k = min(self.k, len(members) - 1)
            if k < 1:
                continue
            # kneighbors() without X: each row's neighbours other than itself
            found = (
                NearestNeighbors(n_neighbors=k).fit(rows[members]).kneighbors(return_distance=False)
            )
            table[members, :k] = members[found]
            counts[members] = k
        self._table, self._counts, self._rows = table, counts, X

    def apply(self, X, y, rng, rows=None):
        if rows is None:
            raise ConfigError(
                "neighbours: needs rows=, the batch's positions in the training rows it was "
                "fitted on (Trainer.fit passes them)"
            )
        rows = to_numpy(rows)
        n = len(rows)
        counts = self._counts[rows]
        pick = (rng.random(n) * counts).astype(np.intp)  # 0..count-1 (0 when alone)
        u = rng.random(n) * (counts > 0)  # a row without neighbours stays
        other = self._rows[on_device(self._table[rows, pick], X)].reshape(X.shape)
        u = on_device(u.astype(X.dtype), X)[:, None]
        return X + u * (other - X), y


class Mixup(Augmentation):
    """mixup (Zhang et al., 2018): a batch becomes ``lam * batch + (1 - lam) * the batch in a
    random order``, inputs and targets alike, with one lam ~ Beta(alpha, alpha) per batch.

    Class labels become probabilities first (one-hot), so the mixed targets are soft labels:
    the loss must take probabilities (CrossEntropyLoss does, as PyTorch's: targets of shape
    (N, C)). Regression targets, and a binary model's 0/1 column, are mixed as they are.

    Args:
        alpha: the Beta distribution's parameter: small values keep most pairs close to one
            of the two rows (0.2 is the paper's choice for ImageNet).
    """

    name = "mixup"
    relabels = True

    def __init__(self, alpha: float = 0.2):
        self.alpha = check_real(alpha, "alpha", strict=True)
        self._n_classes: int | None = None

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def fit(self, X, y, classes=None, n_classes=None) -> None:
        self._n_classes = n_classes

    def apply(self, X, y, rng, rows=None):
        xp = xp_of(X)
        n = X.shape[0]
        lam = rng.beta(self.alpha, self.alpha)
        order = on_device(rng.permutation(n), X)
        if y.ndim == 1 and y.dtype.kind in "iu":  # labels -> one-hot probabilities
            if self._n_classes is None:
                raise ConfigError("mixup: class labels need the number of classes (fit)")
            onehot = xp.zeros((n, self._n_classes), dtype=X.dtype)
            onehot[xp.arange(n), y] = 1
            y = onehot
        lx, ly = X.dtype.type(lam), y.dtype.type(lam)
        return lx * X + (1 - lx) * X[order], ly * y + (1 - ly) * y[order]
