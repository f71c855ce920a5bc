"""evaluate(report=True) and the metrics file: confusion matrix, per-class precision/recall/F1,
ROC AUC (binary and one-vs-rest macro), on scikit-learn's metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

import deltaprop as dp
from deltaprop.train.metrics import classification_report, regression_report


def trained(k=3, n=90, outputs=None, loss="cross_entropy", seed=0):
    dp.seed(seed)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64) * (k - 2)
    model = dp.nn.mlp(4, [16], outputs or k)
    trainer = dp.Trainer(model, loss, "adam", lr=0.01)
    y_fit = y.reshape(-1, 1).astype(np.float32) if loss == "bce_with_logits" else y
    trainer.fit(X, y_fit, epochs=20, verbose=False)
    return trainer, X, y, y_fit


def test_default_evaluate_is_unchanged():
    trainer, X, y, _ = trained()
    assert set(trainer.evaluate(X, y)) == {"loss", "accuracy"}


def test_multiclass_report_matches_scikit_learn():
    trainer, X, y, _ = trained()
    result = trainer.evaluate(X, y, report=True, class_names=["a", "b", "c"])
    report = result["report"]
    proba = trainer.predict(X)
    pred = proba.argmax(axis=1)
    assert report["classes"] == ["a", "b", "c"]
    assert report["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    f1 = f1_score(y, pred, average=None)
    assert [report["per_class"][c]["f1"] for c in "abc"] == pytest.approx(f1)
    assert report["macro"]["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert sum(v["support"] for v in report["per_class"].values()) == len(y)
    expected = roc_auc_score(y, proba / proba.sum(1, keepdims=True), multi_class="ovr")
    assert report["roc_auc"] == pytest.approx(expected)
    assert result["accuracy"] == pytest.approx(np.mean(pred == y))


def test_binary_report_from_one_logit_and_from_two_outputs():
    trainer, X, y, y_fit = trained(k=2, outputs=1, loss="bce_with_logits")
    report = trainer.evaluate(X, y_fit, report=True)["report"]
    p1 = trainer.predict(X)[:, 0]
    assert report["classes"] == ["0", "1"]
    assert report["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert report["confusion_matrix"] == confusion_matrix(y, (p1 > 0.5).astype(int)).tolist()
    trainer, X, y, _ = trained(k=2)
    report = trainer.evaluate(X, y, report=True)["report"]
    assert report["roc_auc"] == pytest.approx(roc_auc_score(y, trainer.predict(X)[:, 1]))


def test_auc_is_none_when_a_class_has_no_row():
    proba = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    report = classification_report(np.array([0, 1]), proba)
    assert report["roc_auc"] is None
    assert report["per_class"]["2"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    with pytest.raises(dp.ConfigError, match="class_names: expected 3 names, got 2"):
        classification_report(np.array([0, 1]), proba, ["a", "b"])


def test_regression_report():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([[1.5], [2.0], [2.5], [4.0]])
    report = regression_report(y, pred)
    assert report == pytest.approx({"r2": 0.9, "mae": 0.25, "rmse": np.sqrt(0.125)})


def test_report_flag_is_checked():
    trainer, X, y, _ = trained()
    with pytest.raises(dp.ConfigError, match="report: expected"):
        trainer.evaluate(X, y, report="yes")
