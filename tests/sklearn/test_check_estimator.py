"""scikit-learn's own estimator checks, with the failures we expect declared through its
mechanism (``expected_failed_checks``: they run as xfail, strictly, so a check that starts
passing is noticed). Small settings keep the ~110 checks to a few seconds; the defaults pass
the same checks (a two-minute run, see the README)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from deltaprop.sklearn import (
    EXPECTED_FAILED_CHECKS,
    DeltapropClassifier,
    DeltapropRegressor,
    expected_failed_checks,
)

SMALL = {"hidden": "16", "epochs": 10}


@parametrize_with_checks(
    [DeltapropClassifier(**SMALL), DeltapropRegressor(**SMALL)],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=True,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_each_expected_failure_has_a_reason():
    assert set(EXPECTED_FAILED_CHECKS) == {"DeltapropClassifier", "DeltapropRegressor"}
    for checks in EXPECTED_FAILED_CHECKS.values():
        assert all(isinstance(why, str) and len(why) > 20 for why in checks.values())
    assert expected_failed_checks(DeltapropRegressor()) == {}
    assert "check_class_weight_classifiers" in expected_failed_checks(DeltapropClassifier())
