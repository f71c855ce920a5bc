"""DeltapropClassifier and DeltapropRegressor: deltaprop networks as scikit-learn estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_consistent_length, column_or_1d

from ..errors import DataError
from .base import ESTIMATOR_ONLY, PARAMS, DeltapropEstimator, as_data_error, init_from_table

#: Checks of ``sklearn.utils.estimator_checks`` these estimators are known to fail, with why
#: (scikit-learn's own mechanism: pass it as ``check_estimator(..., expected_failed_checks=)``
#: or ``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)``).
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "DeltapropClassifier": {
        "check_class_weight_classifiers": "class_weight takes the run recipe's values, "
        "'balanced' or None; a dict of weights per class (what this check passes) is not one",
    },
    "DeltapropRegressor": {},
}


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    """:data:`EXPECTED_FAILED_CHECKS` of ``estimator``'s class (check name -> reason)."""
    return dict(EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))


class DeltapropClassifier(ClassifierMixin, DeltapropEstimator):
    """A deltaprop network trained as a classifier, with scikit-learn's interface.

    Keyword arguments are the run recipe's keys (:data:`deltaprop.sklearn.PARAMS`, with
    :class:`deltaprop.Recipe`'s defaults and meaning: ``hidden="256,128"`` for the widths,
    ``optimizer``, ``lr``, ``epochs``, ``descent``, ``batch_size``, ``dropout``, ``l2``,
    ``early_stopping``, ``seed``, ...), plus ``class_weight`` ("balanced" or None),
    ``standardize`` (default True: each feature scaled by its mean and standard deviation
    on the training X, kept with the model, as ``deltaprop train`` does) and ``verbose``
    (print the epoch lines). They are checked when ``fit`` runs (ConfigError naming the
    key). Unlike the recipe, no validation part is held out unless ``early_stopping`` asks
    for one.

    Labels may be anything ``numpy.unique`` sorts (ints, strings): ``classes_`` holds them,
    and ``predict`` returns them. ``predict_proba`` gives one column per class, in the order
    of ``classes_``.

    Attributes (after fit): ``classes_``, ``n_features_in_``, ``feature_names_in_`` (for
    named columns), ``model_`` (the trained deltaprop Module; ``dp.save`` it or export it
    with ``dp.export_onnx``), ``trainer_`` (its Trainer; not pickled), ``history_`` (per-epoch
    lists: loss, accuracy, lr, ...).
    """

    _task = "classification"
    __init__ = init_from_table(PARAMS, {"class_weight": None, **ESTIMATOR_ONLY})

    def fit(self, X: Any, y: Any) -> DeltapropClassifier:
        """Train a fresh network on X (n_samples, n_features) and labels y (n_samples,)."""
        return self._fit(X, y, partial=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> DeltapropClassifier:
        """One epoch on (X, y), continuing from the last call (a fresh network the first
        time). ``classes``: every label the calls will bring, needed on the first call when
        its y does not hold them all (default: the labels of the first y)."""
        return self._fit(X, y, partial=True, classes=classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), float64, rows summing to 1."""
        out = self._outputs(X)
        e = np.exp(out - out.max(axis=1, keepdims=True))  # shifted: exp cannot overflow
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most likely class of each row, as a label of ``classes_``."""
        out = self._outputs(X)  # first: unfitted is a NotFittedError, whatever is missing
        return self.classes_[np.argmax(out, axis=1)]

    def _targets(self, y: Any, X: np.ndarray, first: bool, classes: Any) -> tuple[Any, int]:
        try:
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            check_classification_targets(y)
        except (ValueError, TypeError) as exc:
            raise as_data_error(exc, "y") from None
        if first:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
            if len(self.classes_) < 2:
                raise DataError(
                    f"y: expected at least 2 classes to learn, got 1 class "
                    f"({self.classes_[0]!r} in every row)"
                )
        codes = np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if np.any(unknown):
            raise DataError(
                f"y: label {y[np.argmax(unknown)].item()!r} is not one of the classes "
                f"{self.classes_.tolist()} (pass classes= to the first partial_fit)"
            )
        return codes.astype(np.int64), len(self.classes_)


class DeltapropRegressor(RegressorMixin, DeltapropEstimator):
    """A deltaprop network trained as a regressor (mean squared error), with scikit-learn's
    interface. Keyword arguments as :class:`DeltapropClassifier` (no ``class_weight``).

    y may be (n_samples,) or (n_samples, n_targets); ``predict`` returns the same shape. The
    targets are standardized for training (their mean and standard deviation on the data of
    the first ``fit``/``partial_fit``) and predictions mapped back to their units, as
    ``deltaprop train`` does; the scaling is kept in the model file (and so in a pickle).

    Attributes (after fit): ``n_features_in_``, ``feature_names_in_``, ``n_outputs_``,
    ``model_``, ``trainer_``, ``history_``.
    """

    _task = "regression"
    __init__ = init_from_table(PARAMS, ESTIMATOR_ONLY)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # one output per target column
        return tags

    def fit(self, X: Any, y: Any) -> DeltapropRegressor:
        """Train a fresh network on X (n_samples, n_features) and y (n_samples[, n_targets])."""
        return self._fit(X, y, partial=False)

    def partial_fit(self, X: Any, y: Any) -> DeltapropRegressor:
        """One epoch on (X, y), continuing from the last call (a fresh network the first
        time)."""
        return self._fit(X, y, partial=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the targets' units: (n_samples,) or (n_samples, n_targets)."""
        out = self._outputs(X) * self._y_scale + self._y_center
        return out[:, 0] if self._y_1d else out

    def _targets(self, y: Any, X: np.ndarray, first: bool, classes: Any) -> tuple[Any, int]:
        try:
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            check_consistent_length(X, y)
        except (ValueError, TypeError) as exc:
            raise as_data_error(exc, "y") from None
        if y.ndim not in (1, 2):
            raise DataError(f"y: expected (n_samples,) or (n_samples, n_targets), got {y.shape}")
        columns = y.reshape(len(y), -1)
        if first:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = columns.shape[1]
            std = columns.std(axis=0)
            self._y_center = columns.mean(axis=0)
            self._y_scale = np.where(std > 0, std, 1.0)  # a constant target: scale 1
        elif columns.shape[1] != self.n_outputs_:
            raise DataError(f"y: expected {self.n_outputs_} target columns, got {columns.shape[1]}")
        scaled = (columns - self._y_center) / self._y_scale
        return (scaled[:, 0] if self._y_1d else scaled), self.n_outputs_

    def _file_keys(self) -> tuple[str, ...]:
        return (*super()._file_keys(), "_y_center", "_y_scale", "_y_1d")

    def _file_metadata(self) -> dict[str, Any]:
        targets = {"y_center": self._y_center.tolist(), "y_scale": self._y_scale.tolist(),
                   "y_1d": bool(self._y_1d)}  # fmt: skip
        return {**super()._file_metadata(), **targets}

    def _read_metadata(self, meta: dict[str, Any]) -> dict[str, Any]:
        center, scale = (np.asarray(meta[k], np.float64) for k in ("y_center", "y_scale"))
        targets = {"_y_center": center, "_y_scale": scale, "_y_1d": bool(meta["y_1d"])}
        return {**super()._read_metadata(meta), **targets}
