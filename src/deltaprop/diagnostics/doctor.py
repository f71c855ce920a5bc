"""The doctor: a verdict on training from gradient-flow records and learning curves.

:func:`diagnose` reads what :class:`~deltaprop.callbacks.GradientMonitor` recorded (and the
History's curves) and returns a :class:`Verdict`: a ``status``, ``findings`` with the numbers,
and ``remedies`` ranked, each a :class:`Remedy` ``(text, changes)`` where ``changes`` uses the
keys of a run recipe (``{"activation": "relu", "init": "he"}``, ``{"lr": 0.1}``): valid
``recipe.replace(**changes)`` arguments (the command line shows them as flags).

Gradient checks, first match wins (the status):
    * ``diverging``: the loss became NaN/Inf (``error`` given, or a non-finite loss);
    * ``exploding``: a layer's gradient norm > ``EXPLODE_NORM = 1e3``, or non-finite
      gradients/weights;
    * ``vanishing``: first/last-layer gradient ratio < ``VANISH_END = 1e-3`` at the last record,
      or < ``VANISH_EARLY = 0.05`` at the first record or at step 0 (``init_report``), or the
      first layer's gradient norm < ``VANISH_FIRST = 1e-6``;
    * ``lr_too_high``: the training loss rose over the last ``RISE_EPOCHS = 3`` epochs (each
      epoch above the one before, ending > 10% above its minimum) while the total weight norm
      grew;
    * ``dead_units``: a ReLU layer with > ``DEAD = 0.5`` of its units dead on the probe. When
      dead units dominate (a layer >= ``DEAD_DOMINANT = 0.9`` dead, or > 0.5 dead while the
      first layer gets no gradient at all) this verdict comes before ``vanishing`` and
      ``lr_too_high``: a dead layer passes no gradient back, and the tiny first-layer
      gradient it causes is a symptom, not the disease;
    * ``saturation``: a sigmoid/tanh layer with > ``SATURATED = 0.5`` saturated units.
Remedies never repeat a setting the run already has, nor one its descent mode ignores
(see :mod:`.remedies`). The learning-curve checks (:mod:`.curves`: overfitting, noisy,
underfitting) give the status when the gradients are fine; ``healthy`` is the status only
when none of these holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..optim import default_lr
from .curves import curve_verdict
from .remedies import applicable

EXPLODE_NORM = 1e3
VANISH_END, VANISH_EARLY, VANISH_FIRST = 1e-3, 0.05, 1e-6
RISE_EPOCHS = 3
DEAD = SATURATED = 0.5
DEAD_DOMINANT = 0.9
_RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")


class Remedy(NamedTuple):
    """One remedy: what to do (``text``) and the change to the recipe that does it
    (``changes``, recipe keys; empty when no setting does it, e.g. "get more data")."""

    text: str
    changes: dict[str, Any]


@dataclass
class Verdict:
    """``status``: healthy, vanishing, exploding, dead_units, saturation, lr_too_high,
    diverging, overfitting, underfitting or noisy. ``curve``: the learning-curve verdict
    (``"ok"`` or one of diverging, overfitting, underfitting, noisy). ``remedies``: ranked
    :class:`Remedy` ``(text, changes)``."""

    status: str
    findings: list[str] = field(default_factory=list)
    remedies: list[Remedy] = field(default_factory=list)
    curve: str = "ok"

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


def _unpack(source: Any) -> tuple[list[dict], dict[str, list]]:
    if hasattr(source, "records") and isinstance(source.records, list):  # a GradientMonitor
        trainer = getattr(source, "trainer", None)
        hist = getattr(getattr(trainer, "history", None), "history", None) or {}
        return source.records, hist
    if hasattr(source, "history") and isinstance(source.history, dict):  # a History
        return list(source.history.get("gradient_flow", [])), source.history
    if isinstance(source, dict):
        return list(source.get("gradient_flow", [])), source
    if isinstance(source, (list, tuple)) and all(isinstance(r, dict) for r in source):
        return list(source), {}
    raise ConfigError(
        "history_or_records: expected a History, a GradientMonitor, a history dict or a list "
        f"of records, got {type(source).__name__}"
    )


def _settings(recipe: Any) -> dict[str, Any]:
    """A Recipe (duck-typed: the doctor sits below the recipe layer) or a dict -> a dict with
    ``hidden`` as ``"256,128"``."""
    if recipe is None:
        return {}
    if hasattr(recipe, "to_dict") and not isinstance(recipe, dict):
        return dict(recipe.to_dict())
    if not isinstance(recipe, dict):
        raise ConfigError(f"recipe: expected a Recipe or a dict, got {type(recipe).__name__}")
    return dict(recipe)


def _suggested_lr(name: str, descent: str) -> float | None:
    """The optimizer's default rate in the run's descent mode, or None for a name or mode the
    settings dict got wrong."""
    try:
        return default_lr(name, descent)
    except ConfigError:
        return None


def _fmt(x: float) -> str:
    return f"{x:.1e}" if x == x else "nan"


def diagnose(
    history_or_records: Any,
    recipe: Any = None,
    *,
    init_report: Any = None,
    error: Any = None,
    settings: dict[str, Any] | None = None,
) -> Verdict:
    """A :class:`Verdict` from gradient-flow records and learning curves (see the module
    docstring for the thresholds). ``recipe``: the run's :class:`~deltaprop.recipe.Recipe` (or
    a dict of its keys, e.g. the ``settings`` a model file keeps), to tie the remedies to the
    configuration; ``init_report``: an :func:`init_check` result; ``error``: the
    TrainingError (or message) that ended a diverged run. ``settings=`` is the old name of
    ``recipe``."""
    records, hist = _unpack(history_or_records)
    if not records and not hist.get("loss") and error is None:
        raise ConfigError(
            "history_or_records: nothing to diagnose (no gradient records, no losses, no error)"
        )
    s = _settings(recipe if recipe is not None else settings)
    act = str(s.get("activation") or "relu").lower()
    init = str(s.get("init") or "default")
    hidden = [h for h in str(s.get("hidden") or "").split(",") if h.strip()]
    depth = len(hidden) or max(len(records[0]["layers"]) - 1, 0) if records else len(hidden)
    opt = str(s.get("optimizer") or "sgd").lower()
    descent = str(s.get("descent") or "minibatch").lower()
    suggested = _suggested_lr(opt, descent)
    lr = s.get("lr") or suggested or 0.1
    safe_lr = float(f"{min(lr / 10, suggested or lr / 10):.3g}")
    loss = [float(v) for v in hist.get("loss", [])]
    findings: list[str] = []
    remedies: list[tuple[str, dict]] = []
    status = None

    def lr_remedies(what: str) -> None:
        remedies.append((f"{what}: divide the learning rate by 10 or more (lr {lr:g} -> "
                         f"{safe_lr:g})", {"lr": safe_lr}))  # fmt: skip
        remedies.append(("clip the global gradient norm at ~5", {"clip_norm": 5.0}))

    # 1. diverging
    if error is not None or any(not math.isfinite(v) for v in loss):
        status = "diverging"
        findings.append(f"the loss became non-finite: {error}" if error else "the loss is NaN/Inf")
        lr_remedies("training diverged")
    # 2. exploding
    max_norm, where = 0.0, None
    nonfinite = 0
    for r in records:
        for name, st in r["layers"].items():
            g = st.get("grad_norm")
            nonfinite += int(st.get("nonfinite_grads") or 0) + int(st.get("nonfinite_weights") or 0)
            if g is not None and (not math.isfinite(g) or g > max_norm):
                max_norm, where = (g if math.isfinite(g) else math.inf), (name, r["epoch"])
    if status is None and (max_norm > EXPLODE_NORM or nonfinite):
        status = "exploding"
        findings.append(f"a gradient norm reached {_fmt(max_norm)} (layer {where[0]}, epoch "
                        f"{where[1] + 1}); {nonfinite} non-finite values")  # fmt: skip
        lr_remedies(f"the gradient norm reached {_fmt(max_norm)}")
        remedies.insert(1, (f"clip at ~{EXPLODE_NORM / 100:g}", {"clip_norm": EXPLODE_NORM / 100}))
        del remedies[2]

    def units(key: str, limit: float) -> dict[str, float]:
        return {n: st[key] for n, st in records[-1]["layers"].items()
                if st.get(key) is not None and st[key] > limit} if records else {}  # fmt: skip

    dead = units("dead_fraction", DEAD)
    first = next(iter(records[-1]["layers"].values()))["grad_norm"] if records else float("nan")
    dominant = any(v >= DEAD_DOMINANT for v in dead.values()) or (dead and first == 0)
    if status is None and dominant:
        status = _dead_units(dead, findings, remedies, lr, safe_lr)

    # 3. vanishing
    def ratio(r: dict) -> float:
        v = r.get("probe_first_last_ratio", r.get("first_last_ratio"))
        return float("nan") if v is None else float(v)

    early = [ratio(records[0])] if records else []
    if init_report is not None:
        early.append(float(init_report.grad_norm_ratio))
    early = [v for v in early if v == v]
    end = ratio(records[-1]) if records else float("nan")
    if status is None and ((early and min(early) < VANISH_EARLY) or end < VANISH_END
                           or first < VANISH_FIRST):  # fmt: skip
        status = "vanishing"
        worst = min([*early, end] if end == end else early or [first])
        findings.append(f"the first layer's gradient is {_fmt(worst)} of the last layer's "
                        f"(at the end: {_fmt(end)}; first layer's norm {_fmt(first)})")  # fmt: skip
        change: dict[str, Any] = {"activation": "relu", "init": "he"}
        extra = ""
        if depth >= 6:
            change["batchnorm"] = True
            extra = " and batchnorm"
        try_ = f"relu with he init{extra}"
        if act in _RELU_LIKE and init in ("he", "he_normal", "kaiming"):
            change, try_ = {"batchnorm": True}, "batchnorm"
        remedies.append((f"{depth} {act} layers with {init} init: the first layer's gradient is "
                         f"{_fmt(worst)} of the last layer's. Try {try_}, or skip connections",
                         change))  # fmt: skip
        if depth >= 6 and not s.get("residual") and not s.get("architecture"):
            remedies.append((f"keep {act} and add skip connections (x + layer(x) per layer): the "
                             "gradient reaches the first layers through the additions",
                             {"residual": True}))  # fmt: skip
        if act in ("sigmoid", "tanh"):
            remedies.append((f"keep {act} but use xavier init", {"init": "xavier"}))
        remedies.append(("use an adaptive optimizer", {"optimizer": "adam"}))
    # 4. lr too high: loss rising while weights grow
    wn = [sum(st["weight_norm"] for st in r["layers"].values()) for r in records]
    tail = loss[-RISE_EPOCHS - 1 :]
    rising = len(tail) > RISE_EPOCHS and all(b > a for a, b in zip(tail, tail[1:], strict=False))
    if status is None and rising and tail[-1] > 1.1 * min(loss) and len(wn) > 1 and wn[-1] > wn[0]:
        status = "lr_too_high"
        findings.append(f"the loss rose for {RISE_EPOCHS} epochs ({tail[0]:.3g} -> {tail[-1]:.3g})"
                        f" while the weight norm grew ({wn[0]:.3g} -> {wn[-1]:.3g})")  # fmt: skip
        lr_remedies("the loss rises while the weights grow")
    # 5. dead units / saturation
    if status is None and dead:
        status = _dead_units(dead, findings, remedies, lr, safe_lr)
    saturated = units("saturated_fraction", SATURATED)
    if status is None and saturated:
        status = "saturation"
        desc = ", ".join(f"layer {n}: {v:.0%}" for n, v in saturated.items())
        findings.append(f"saturated units: {desc}")
        remedies.append(("use relu with he init", {"activation": "relu", "init": "he"}))
        remedies.append(("add batch normalization", {"batchnorm": True}))
    curve = curve_verdict(hist, loss, status, s, lr, findings, remedies)
    if status is None:
        status = "healthy" if curve == "ok" else curve
    remedies = [Remedy(text, change) for text, change in applicable(remedies, s, lr)]
    return Verdict(status=status, findings=findings, remedies=remedies, curve=curve)


def _dead_units(
    dead: dict[str, float],
    findings: list[str],
    remedies: list[tuple[str, dict]],
    lr: float,
    safe_lr: float,
) -> str:
    """The dead-units verdict: its finding and remedies, smallest change first."""
    desc = ", ".join(f"layer {n}: {v:.0%}" for n, v in dead.items())
    findings.append(f"dead ReLU units (zero on every probe row, so no gradient): {desc}")
    remedies.extend([
        (f"dead ReLUs usually come from too large steps: divide the learning rate by 10 or "
         f"more (lr {lr:g} -> {safe_lr:g})", {"lr": safe_lr}),
        ("use minibatch descent (averaged, calmer steps)", {"descent": "minibatch"}),
        ("use leaky_relu, whose units cannot die", {"activation": "leaky_relu"}),
        ("add batch normalization", {"batchnorm": True}),
    ])  # fmt: skip
    return "dead_units"
