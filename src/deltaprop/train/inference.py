"""Evaluation and prediction: forward passes in eval mode with no graph recorded.

The Trainer inherits these methods; they need ``model``, ``task``, ``_kind``, ``_loss_call``,
``_loss_per_row``, ``_batch_stat``, ``_streaming`` and ``_whole`` from it.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd.tensor import Tensor
from ..checks import check_bool
from ..config import no_grad
from ..errors import ConfigError
from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from ..ops.loss import MSE, SoftmaxCrossEntropy
from . import inputs
from .metrics import classification_report, regression_report, whole_set_value


class Inference:
    def evaluate(
        self,
        X: Any,
        y: Any,
        batch_size: int | None = None,
        report: bool = False,
        class_names: Any = None,
    ) -> dict[str, Any]:
        """The loss and the metrics on (X, y), in eval mode and without recording a graph.

        Args:
            batch_size: rows per forward pass; None runs all rows at once.
            report: also return ``"report"``: for classification the confusion matrix,
                precision/recall/F1 per class and ROC AUC
                (:func:`~deltaprop.train.metrics.classification_report`), for regression
                R^2, MAE and RMSE. Off by default: it costs one more forward pass.
            class_names: the names of the classes in the report (default "0", "1", ...).

        Returns:
            ``{"loss": ..., "accuracy": ..., ...}`` (the Trainer's metrics), Python floats;
            with ``report``, also ``"report"`` (a dict of JSON values).
        """
        batch_size = inputs.check_batch_size(batch_size)
        report = check_bool(report, "report")
        X, y = self._prepare(X, y, "X", "y")
        result: dict[str, Any] = self._evaluate_arrays(X, y, batch_size)
        if report:
            outputs = self.predict(X, batch_size)  # probabilities for classification
            if self.task == "classification":
                result["report"] = classification_report(y, outputs, class_names)
            else:
                result["report"] = regression_report(y, outputs)
        return result

    def _evaluate_arrays(self, X, y, batch_size=None) -> dict[str, float]:
        n = X.shape[0]
        bs = n if batch_size is None else min(batch_size, n)
        loss_sum = 0.0
        stat_sum = 0
        outputs = []
        with self.model.evaluating(), no_grad():
            for i in range(0, n, bs):
                xb, yb = X[i : i + bs], y[i : i + bs]
                out = self.model(Tensor._wrap(xb)).data
                value = float(self._loss_call(Tensor._wrap(out), yb).data)
                loss_sum += value * xb.shape[0] if self._loss_per_row else value
                if self._batch_stat is not None:
                    stat_sum += self._batch_stat(out, yb)
                if self._whole:
                    outputs.append(out)
        result = {"loss": loss_sum / n}
        if self._streaming:
            denom = y.size if self._kind == "regression" else n
            result[self._streaming[0].name] = stat_sum / denom
        if self._whole:
            xp = backend.xp_of(X)
            allout = outputs[0] if len(outputs) == 1 else xp.concatenate(outputs)
            for metric in self._whole:
                result[metric.name] = whole_set_value(metric, y, allout)
        return result

    def predict(self, X: Any, batch_size: int | None = None):
        """Model outputs for X as a NumPy array: class probabilities for classification
        (softmax for cross-entropy, sigmoid for BCE, exp for NLL), raw outputs for regression.
        Runs in eval mode without recording a graph."""
        out = self._outputs(X, batch_size)
        xp = backend.xp_of(out)
        if self._kind == "cross_entropy":
            e = xp.exp(out - out.max(axis=1, keepdims=True))  # shifted: exp cannot overflow
            out = e / e.sum(axis=1, keepdims=True)
        elif self._kind == "bce":
            out = 0.5 * (1.0 + xp.tanh(0.5 * out))  # sigmoid without overflow in exp
        elif self._kind == "nll":
            out = xp.exp(out)
        return backend.to_numpy(out)

    def predict_classes(self, X: Any, batch_size: int | None = None):
        """Predicted class of each row, int64 (N,): argmax of the outputs, or output > 0 for
        a single binary logit."""
        if self.task != "classification":
            raise ConfigError(
                "predict_classes: needs a classification task; this Trainer does regression "
                "(use predict)"
            )
        out = self._outputs(X, batch_size)
        xp = backend.xp_of(out)
        if out.shape[1] == 1:
            classes = (out[:, 0] > 0).astype(xp.int64)
        else:
            classes = out.argmax(axis=1).astype(xp.int64)
        return backend.to_numpy(classes)

    def _outputs(self, X, batch_size):
        batch_size = inputs.check_batch_size(batch_size)
        X, _ = inputs.prepare_X(self.model, X, "X")
        n = X.shape[0]
        bs = n if batch_size is None else min(batch_size, n)
        with self.model.evaluating(), no_grad():
            parts = [self.model(Tensor._wrap(X[i : i + bs])).data for i in range(0, n, bs)]
        return parts[0] if len(parts) == 1 else backend.xp_of(parts[0]).concatenate(parts)


def loss_kind(loss: Any, task: str) -> str:
    """How targets and outputs are treated: "cross_entropy", "nll", "bce", "regression", or
    "classification" (another loss on int labels and per-class scores)."""
    if isinstance(loss, CrossEntropyLoss):
        return "cross_entropy"
    if isinstance(loss, NLLLoss):
        return "nll"
    if isinstance(loss, BCEWithLogitsLoss):
        return "bce"
    return "regression" if task == "regression" else "classification"


def fast_loss_call(loss: Any, kind: str):
    """``(output Tensor, target array) -> loss Tensor``. For the stock losses it calls the fused
    Function directly: the targets were validated once, so the per-call checks are skipped."""
    reduction = getattr(loss, "reduction", "mean")
    # A weighted cross-entropy goes through the module (the generic call): the fused op
    # below knows no weights, and that path must stay as fast as it is.
    if type(loss) is CrossEntropyLoss and loss.weight is None:
        apply = SoftmaxCrossEntropy.apply

        def ce(out, yb):
            return apply(out, Tensor._wrap(yb), reduction=reduction, sparse=True)

        return ce
    if type(loss) is MSELoss:
        apply_mse = MSE.apply

        def mse(out, yb):
            return apply_mse(out, Tensor._wrap(yb), reduction=reduction)

        return mse

    def generic(out, yb):
        return loss(out, Tensor._wrap(yb))

    return generic
