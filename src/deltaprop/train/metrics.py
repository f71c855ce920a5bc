"""Metrics: what ``fit`` and ``evaluate`` report besides the loss.

Two kinds:

- *streaming* metrics (``accuracy``, ``mae``) are sums over a batch, added up over an epoch and
  divided by the number of examples at the end. ``fit`` computes them from the same forward
  passes that train the model, so they cost no extra pass over the training data;
- *whole-set* metrics (``f1_macro``, ``r2``, from scikit-learn) need every prediction at once,
  so they are reported by ``evaluate`` (and for ``validation_data`` in ``fit``) only.

The loss is always reported and need not be asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import to_numpy, xp_of
from ..errors import ConfigError

TASKS = ("classification", "regression")


def count_correct(scores, labels) -> int:
    """How many rows of ``scores`` put their largest value on the true label.

    Args:
        scores: (N, C) logits or probabilities (C >= 2), or (N, 1) / (N,) binary logits where
            a score > 0 means class 1.
        labels: (N,) integer labels; for binary scores also (N, 1) floats 0.0 / 1.0.
    """
    if scores.ndim == 2 and scores.shape[1] > 1:
        hits = scores.argmax(axis=1) == labels
    else:
        hits = (scores.reshape(-1) > 0) == (labels.reshape(-1) > 0.5)
    # np.count_nonzero skips ndarray.sum's Python wrapper: this runs once per training step.
    count = np.count_nonzero if type(hits) is np.ndarray else xp_of(hits).count_nonzero
    return int(count(hits))


def accuracy(scores, labels) -> float:
    """Fraction of rows classified correctly (see :func:`count_correct` for the shapes).

    >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
    0.5
    """
    scores = scores.data if hasattr(scores, "creator") else scores
    n = len(labels)
    return count_correct(scores, labels) / n if n else float("nan")


def sum_abs_error(pred, target) -> float:
    """Sum of |pred - target| over all entries (the numerator of the MAE)."""
    xp = xp_of(pred)
    return float(xp.abs(pred - target).sum())


def mean_absolute_error(pred, target) -> float:
    """Mean of |pred - target| over all entries."""
    pred = pred.data if hasattr(pred, "creator") else pred
    return sum_abs_error(pred, target) / pred.size


def _f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


def _r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


@dataclass(frozen=True)
class Metric:
    """One metric: its name, its task, and how to compute it.

    ``batch_sum(outputs, targets)`` (streaming) returns the batch's contribution to a sum that
    is divided by ``per`` at the end: "rows" (examples) or "entries" (every output value).
    ``whole(y_true, y_pred)`` (whole-set) takes NumPy labels/targets and predictions (class
    indices for classification, raw outputs for regression).
    """

    name: str
    task: str
    batch_sum: Callable[[Any, Any], float] | None = None
    per: str = "rows"
    whole: Callable[[np.ndarray, np.ndarray], float] | None = None

    @property
    def streaming(self) -> bool:
        return self.batch_sum is not None


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", "classification", batch_sum=count_correct),
    "f1_macro": Metric("f1_macro", "classification", whole=_f1_macro),
    "mae": Metric("mae", "regression", batch_sum=sum_abs_error, per="entries"),
    "r2": Metric("r2", "regression", whole=_r2),
}


def resolve_metrics(names: Iterable[str] | str | None, task: str) -> list[Metric]:
    """Turn metric names into Metric objects for ``task``, in order, without duplicates.

    ``"loss"`` is accepted and ignored (it is always reported).

    Raises:
        ConfigError: an unknown name, or a metric of the other task (``accuracy`` on
            regression); the message lists the names allowed for ``task``.
    """
    if task not in TASKS:
        raise ConfigError(f"task: expected one of {list(TASKS)}, got {task!r}")
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    try:
        names = list(names)
    except TypeError:
        raise ConfigError(
            f"metrics: expected a list of names, got {type(names).__name__}"
        ) from None
    allowed = [n for n, m in METRICS.items() if m.task == task]
    out: list[Metric] = []
    for i, name in enumerate(names):
        key = name.strip().lower() if isinstance(name, str) else name
        if key == "loss":
            continue
        metric = METRICS.get(key) if isinstance(key, str) else None
        if metric is None or metric.task != task:
            why = f" ({key} is a {metric.task} metric)" if metric is not None else ""
            raise ConfigError(
                f"metrics[{i}]: expected one of {['loss', *allowed]} for {task}, got {name!r}{why}"
            )
        if metric not in out:
            out.append(metric)
    if sum(m.streaming for m in out) > 1:  # pragma: no cover - one streaming metric per task
        raise ConfigError("metrics: at most one streaming metric per task")
    return out


def whole_set_value(metric: Metric, y_true, outputs) -> float:
    """Compute a whole-set metric from all outputs (classification: classes via argmax)."""
    y_true = to_numpy(y_true)
    outputs = to_numpy(outputs)
    if metric.task == "classification":
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            pred = outputs.argmax(axis=1)
        else:
            pred = (outputs.reshape(-1) > 0).astype(np.int64)
        return metric.whole(y_true.reshape(-1).astype(np.int64), pred)
    return metric.whole(y_true, outputs)


def classification_report(
    y_true: Any, proba: Any, class_names: Iterable[Any] | None = None
) -> dict[str, Any]:
    """The whole-set scores of a classifier, on scikit-learn's metrics, as JSON values.

    Args:
        y_true: (N,) integer labels in 0..C-1 (or (N, 1) floats 0./1. for one binary output).
        proba: (N, C) class probabilities (C >= 2), or (N, 1) / (N,) probabilities of class 1.
        class_names: C names, in label order (default ``"0"``, ``"1"``, ...).

    Returns:
        ``{"classes": [C names], "confusion_matrix": C x C counts (rows: true class, columns:
        predicted), "per_class": {name: {"precision", "recall", "f1", "support"}}, "macro":
        {"precision", "recall", "f1"}, "roc_auc": float or None}``. ROC AUC is binary for
        two classes and one-vs-rest macro for more; None when a class has no row in ``y_true``
        (it is undefined then). A class never predicted has precision 0.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    y = to_numpy(y_true).reshape(-1).astype(np.int64)
    p = to_numpy(proba).astype(np.float64)
    p = p.reshape(len(y), -1)
    if p.shape[1] == 1:  # one binary output: P(class 1)
        p = np.concatenate([1.0 - p, p], axis=1)
    k = p.shape[1]
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ConfigError(f"class_names: expected {k} names, got {len(names)}")
    labels = list(range(k))
    pred = p.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]),
               "f1": float(f1[i]), "support": int(support[i])}
        for i, name in enumerate(names)
    }  # fmt: skip
    roc_auc = None
    if len(np.unique(y)) == k:  # every class present: AUC is defined
        if k == 2:
            roc_auc = float(roc_auc_score(y, p[:, 1]))
        else:
            rows = p / p.sum(axis=1, keepdims=True)  # exact sums of 1 (float32 softmax drifts)
            roc_auc = float(roc_auc_score(y, rows, multi_class="ovr", average="macro",
                                          labels=labels))  # fmt: skip
    return {
        "classes": names,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "per_class": per_class,
        "macro": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
        },  # fmt: skip
        "roc_auc": roc_auc,
    }


def regression_report(y_true: Any, pred: Any) -> dict[str, float]:
    """``{"r2", "mae", "rmse"}`` of (N,) or (N, T) predictions (scikit-learn's metrics; R^2
    averaged over targets)."""
    from sklearn.metrics import mean_absolute_error as mae
    from sklearn.metrics import mean_squared_error, r2_score

    y, p = to_numpy(y_true).astype(np.float64), to_numpy(pred).astype(np.float64)
    p = p.reshape(y.shape)
    return {"r2": float(r2_score(y, p)), "mae": float(mae(y, p)),
            "rmse": float(np.sqrt(mean_squared_error(y, p)))}  # fmt: skip


__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "classification_report",
    "count_correct",
    "mean_absolute_error",
    "regression_report",
    "resolve_metrics",
    "sum_abs_error",
]
