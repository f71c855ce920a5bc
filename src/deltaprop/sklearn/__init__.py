"""scikit-learn estimators: :class:`DeltapropClassifier` and :class:`DeltapropRegressor`.

They take the run recipe's keys as keyword arguments and work wherever scikit-learn's own
estimators do (``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone``, pickle):

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from deltaprop.sklearn import DeltapropClassifier
>>> clf = make_pipeline(StandardScaler(), DeltapropClassifier(hidden="64", epochs=20))

They pass ``sklearn.utils.estimator_checks.check_estimator``; the checks they are known to
fail, with the reasons, are :data:`EXPECTED_FAILED_CHECKS` (see :func:`expected_failed_checks`).
"""

from .base import PARAMS
from .estimators import (
    EXPECTED_FAILED_CHECKS,
    DeltapropClassifier,
    DeltapropRegressor,
    expected_failed_checks,
)

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "PARAMS",
    "DeltapropClassifier",
    "DeltapropRegressor",
    "expected_failed_checks",
]
