"""Initialization check at step 0: activation and gradient variance per Linear layer.

:func:`init_check` runs one forward/backward pass on a batch with the model as built (no
step taken; the model is left unchanged, see :func:`~deltaprop.diagnostics.gradflow.
gradient_flow`) and reports, per Linear layer, the variance of its output after its
activation and the variance of its weight gradient.

Thresholds (ratios taken last layer over first layer, i.e. with depth):
    * ``COLLAPSE = 1e-2``: a variance ratio below it means the variance collapses with depth;
    * ``EXPLODE = 1e2``: a ratio above it means it explodes with depth.
For the gradient the ratio is the *first* layer's variance over the last one's (gradients
flow backwards, so depth is counted from the loss). When either collapses or explodes the
check recommends Xavier init for tanh/sigmoid and He init for ReLU-like activations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .gradflow import gradient_flow

COLLAPSE = 1e-2
EXPLODE = 1e2
_RECOMMENDED = {"sigmoid": "xavier", "tanh": "xavier", "relu": "he"}


class InitCheck(list):
    """A list of ``(layer name, activation variance, gradient variance)``, first layer first,
    with ``act_ratio`` (last/first activation variance), ``grad_ratio`` (first/last gradient
    variance), ``grad_norm_ratio`` (first/last gradient norm), ``activation`` (the hidden
    activation, or None), ``problem`` (None, ``"collapse"`` or ``"explode"``) and
    ``recommendation`` (a sentence, or None when nothing is wrong)."""

    act_ratio: float = float("nan")
    grad_ratio: float = float("nan")
    grad_norm_ratio: float = float("nan")
    activation: str | None = None
    problem: str | None = None
    recommendation: str | None = None

    def text(self) -> str:
        lines = ["initialization check (step 0):",
                 f"{'layer':<8}{'act var':>12}{'grad var':>12}"]  # fmt: skip
        lines += [f"{n:<8}{a:>12.3e}{g:>12.3e}" for n, a, g in self]
        lines.append(
            f"activation variance last/first: {self.act_ratio:.3e}; "
            f"gradient variance first/last: {self.grad_ratio:.3e}"
        )
        lines.append(self.recommendation or "variance stays within [1e-2, 1e2] with depth")
        return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b and np.isfinite(b) else float("nan")


def init_check(model: Any, X: Any, y: Any = None, loss: Any = None) -> InitCheck:
    """Step-0 activation and gradient variance per Linear layer of ``model`` on batch ``X``.

    Args:
        model: a Module (activation statistics need an :class:`~deltaprop.nn.Sequential`).
        X: a batch of inputs.
        y, loss: targets and loss (name, Module or callable). Without them the gradient is
            that of ``mean(output ** 2) / 2`` (each output unit pulled towards 0).

    Raises:
        ConfigError: bad model or batch (see ``gradient_flow``).
    """
    if X is None or not hasattr(X, "shape") or len(X.shape) < 1:
        raise ConfigError(f"X: expected an array batch, got {type(X).__name__}")
    if (y is None) != (loss is None):
        raise ConfigError("y, loss: give both or neither")
    if y is None:
        y = np.zeros(X.shape[0])

        def loss(pred, target):
            return (pred * pred).mean() * 0.5

    flow = gradient_flow(model, X, y, loss)
    report = InitCheck()
    for name, stats in flow["layers"].items():
        act = stats["act_std"]
        act_var = float("nan") if act is None else float(act) ** 2
        size = dict(model.named_modules())[name].weight.data.size
        report.append((name, act_var, float(stats["grad_norm"]) ** 2 / size))
    hidden = [r for r in report[:-1]] or report
    report.act_ratio = _ratio(hidden[-1][1], hidden[0][1])
    report.grad_ratio = _ratio(report[0][2], report[-1][2])
    report.grad_norm_ratio = float(flow["first_last_ratio"])
    kinds = [s["activation"] for s in flow["layers"].values() if s.get("activation")]
    report.activation = kinds[0] if kinds else None
    ratios = [r for r in (report.act_ratio, report.grad_ratio) if np.isfinite(r)]
    if any(r < COLLAPSE for r in ratios):
        report.problem = "collapse"
    elif any(r > EXPLODE for r in ratios) or any(not np.isfinite(v) for r in report for v in r[2:]):
        report.problem = "explode"
    if report.problem:
        kind = report.activation or "linear"
        family = "relu" if kind in ("relu", "leaky_relu", "elu", "gelu") else kind
        best = _RECOMMENDED.get(family, "xavier")
        report.recommendation = (
            f"the variance {'collapses' if report.problem == 'collapse' else 'explodes'} with "
            f"depth: use {best} init for {kind} ({'Xavier' if best == 'xavier' else 'He'})"
        )
    return report
