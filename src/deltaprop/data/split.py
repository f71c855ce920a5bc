"""Holdout and k-fold splits, and feature standardization, on scikit-learn.

Splitting and scaling are scikit-learn's job; this module adds deltaprop's seeding (unseeded calls
draw from ``dp.seed``'s generator), a graceful fallback when a class is too small to stratify, and
a Standardizer whose state is plain JSON so it can be saved next to a model.
"""

from __future__ import annotations

# scikit-learn is imported inside the functions that use it, on purpose: importing it costs
# about 1.5 s of CPU, which every `import deltaprop` and `deltaprop --help` would pay.
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..checks import check_fraction, check_int
from ..errors import DataError, DeltapropError, ShapeError
from ..report import warn
from .checks import check_features, infer_task
from .seeding import seed_int


def _stratify_on(y: np.ndarray, stratify: bool) -> np.ndarray | None:
    """The labels to stratify on, or None when stratifying makes no sense (regression targets)."""
    if not stratify or y.ndim != 1 or infer_task(y) != "classification":
        return None
    return y


def train_test_split(
    X: Any, y: Any, test_size: float = 0.2, stratify: bool = True, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split rows into a training and a test part.

    Args:
        X: (n_samples, ...) features; y: (n_samples,) or (n_samples, k) targets.
        test_size: fraction of rows for the test part, in (0, 1).
        stratify: keep each class's share the same in both parts (classification labels only).
            When a class is too small for that (fewer than 2 rows, or fewer rows than the parts
            need), the split falls back to a plain shuffled split with a warning.
        seed: makes the split reproducible; None draws from deltaprop's generator.

    Returns:
        ``(X_train, X_test, y_train, y_test)``; dtypes as given.
    """
    from sklearn.model_selection import train_test_split as sk_split

    check_fraction(test_size, "test_size")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
        raise DataError(
            f"X and y: expected the same number of rows, got {len(X) if X.ndim else 0} "
            f"and {len(y) if y.ndim else 0}"
        )
    n_test = int(np.ceil(test_size * len(X)))
    if len(X) < 2 or n_test >= len(X):
        raise DataError(
            f"X: expected enough rows for a train and a test part with test_size={test_size}, "
            f"got {len(X)}"
        )
    random_state = seed_int(seed)
    strat = _stratify_on(y, stratify)
    if strat is not None:
        try:
            return tuple(
                sk_split(X, y, test_size=test_size, stratify=strat, random_state=random_state)
            )
        except ValueError as exc:  # a class with 1 member, or fewer test rows than classes
            warn(
                f"train_test_split: cannot stratify ({exc}); using an unstratified split",
            )
    return tuple(sk_split(X, y, test_size=test_size, random_state=random_state))


def kfold_indices(
    y: Any, k: int = 5, stratified: bool = True, seed: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_idx, val_idx)`` int arrays for each of ``k`` shuffled folds.

    Every row is in exactly one validation fold. With ``stratified`` and classification labels
    the folds keep the class shares (StratifiedKFold); when the smallest class has fewer than
    ``k`` rows it falls back to plain KFold with a warning.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    k = check_int(k, "k", minimum=2)
    y = np.asarray(y)
    n = len(y) if y.ndim else 0
    if n < k:
        raise DataError(f"y: expected at least k={k} rows for {k} folds, got {n}")
    random_state = seed_int(seed)
    splitter: Any = KFold(n_splits=k, shuffle=True, random_state=random_state)
    strat = _stratify_on(y, stratified)
    if strat is not None:
        smallest = int(np.unique(strat, return_counts=True)[1].min())
        if smallest >= k:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=random_state)
        else:
            warn(
                f"kfold_indices: the smallest class has {smallest} rows, fewer than k={k}; "
                "using unstratified folds",
            )
    yield from splitter.split(np.zeros((n, 1)), strat if strat is not None else None)


class Standardizer:
    """Scale each feature to mean 0 and standard deviation 1, with statistics from training data.

    ``transform(X) = (X - mean) / scale`` per column, where mean and scale come from ``fit`` on
    the training part only (so test data is scaled by the same numbers and its mean is not forced
    to 0). Columns with zero variance get scale 1 instead of a division by zero.

    Wraps :class:`sklearn.preprocessing.StandardScaler`; ``state()`` / ``from_state()`` convert
    to and from plain lists so the statistics can be stored in a model file's JSON metadata.
    """

    def __init__(self) -> None:
        self._scaler: Any = None

    @property
    def fitted(self) -> bool:
        return self._scaler is not None

    @property
    def mean(self) -> np.ndarray:
        """(n_features,) float64 column means seen in ``fit``."""
        return self._require().mean_

    @property
    def scale(self) -> np.ndarray:
        """(n_features,) float64 column standard deviations (1 where the variance is zero)."""
        return self._require().scale_

    def _require(self) -> Any:
        if self._scaler is None:
            raise DeltapropError("Standardizer: call fit(X) (or from_state) before using it")
        return self._scaler

    def fit(self, X: Any) -> Standardizer:
        """Learn column means and standard deviations from X (n_samples, n_features)."""
        from sklearn.preprocessing import StandardScaler

        X = check_features(X, "X")
        with np.errstate(over="ignore", invalid="ignore"):
            self._scaler = StandardScaler().fit(X)
        if not (np.isfinite(self._scaler.mean_).all() and np.isfinite(self._scaler.scale_).all()):
            # a float32 column near float32's limit overflows its own sums: float64 statistics
            # (only then, so that ordinary data is scaled bit for bit as it always was)
            self._scaler = StandardScaler().fit(X.astype(np.float64))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Return standardized X (n_samples, n_features); float64 stays float64, else float32."""
        scaler = self._require()
        X = check_features(X, "X", n_features=scaler.n_features_in_)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = scaler.transform(X).astype(X.dtype, copy=False)
        bad = ~np.isfinite(Z)
        if bad.any():  # (x - mean) / scale beyond the dtype's range: never an inf input
            i, j = (int(k[0]) for k in np.nonzero(bad))
            raise DataError(
                f"X: row {i + 1}, column {j}: {float(X[i, j])!r} is too far from the training "
                f"mean ({float(scaler.mean_[j]):.4g}, scale {float(scaler.scale_[j]):.4g}) to "
                f"standardize within {X.dtype}"
            )
        return Z

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Undo :meth:`transform`: ``Z * scale + mean`` (e.g. to report regression predictions)."""
        scaler = self._require()
        Z = check_features(Z, "Z", n_features=scaler.n_features_in_)
        return scaler.inverse_transform(Z).astype(Z.dtype, copy=False)

    def state(self) -> dict[str, list[float]]:
        """``{"mean": [...], "scale": [...]}`` as plain Python floats (JSON-able)."""
        scaler = self._require()
        return {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Standardizer:
        """Rebuild a fitted Standardizer from :meth:`state`'s dict."""
        from sklearn.preprocessing import StandardScaler

        if not isinstance(d, dict) or not {"mean", "scale"} <= d.keys():
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise DataError(f"state: expected a dict with keys 'mean' and 'scale', got {got}")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"state: expected lists of numbers, got {exc}") from exc
        if mean.ndim != 1 or mean.shape != scale.shape or mean.size == 0:
            raise ShapeError(
                f"state: expected 'mean' and 'scale' of the same length, "
                f"got shapes {mean.shape} and {scale.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise DataError("state: expected finite means and positive finite scales")
        scaler = StandardScaler()
        # The attributes StandardScaler.fit sets; transform reads mean_ and scale_.
        scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale**2
        scaler.n_features_in_, scaler.n_samples_seen_ = mean.size, 0
        out = cls()
        out._scaler = scaler
        return out

    def __repr__(self) -> str:
        n = self._scaler.n_features_in_ if self._scaler is not None else None
        return f"Standardizer(n_features={n})" if n is not None else "Standardizer(unfitted)"
