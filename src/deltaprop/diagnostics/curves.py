"""The doctor's learning-curve checks: a verdict on the loss and accuracy curves of a History,
used for the run's status when the gradient checks (:mod:`.doctor`) found nothing:

    * ``overfitting``: the mean of the last 3 val losses > ``OVERFIT = 1.2`` x the best val loss,
      while the train loss kept falling;
    * ``noisy``: a train-loss jump of > ``SPIKE = 50%`` from one epoch to the next;
    * ``underfitting``: train accuracy < ``UNDERFIT_ACC = 0.6`` at the end, or the train loss
      fell by < 10% from the first epoch.
"""

from __future__ import annotations

from typing import Any

OVERFIT, SPIKE, UNDERFIT_ACC = 1.2, 0.5, 0.6


def curve_verdict(
    hist: dict[str, list],
    loss: list[float],
    status: str | None,
    s: dict[str, Any],
    lr: float,
    findings: list[str],
    remedies: list[tuple[str, dict]],
) -> str:
    """The curves' verdict (``"ok"``, ``"diverging"`` when the gradient checks' ``status``
    says so, or one of the module docstring's); its findings and remedies are appended to
    ``findings`` and ``remedies`` (the underfitting remedies only while ``status`` is None:
    a gradient problem is fixed first). ``s``: the run's settings; ``lr``: its rate."""
    curve = "ok"
    val = [float(v) for v in hist.get("val_loss", [])]
    acc = hist.get("accuracy", [])
    if status == "diverging":
        curve = "diverging"
    elif len(val) >= 4 and min(val) > 0 and sum(val[-3:]) / 3 > OVERFIT * min(val) and \
            loss[-1] < loss[val.index(min(val))]:  # fmt: skip
        curve = "overfitting"
        findings.append(f"val loss rose from its best {min(val):.3g} to {val[-1]:.3g} while the "
                        f"train loss fell to {loss[-1]:.3g}")  # fmt: skip
        remedies += [
            ("stop early", {"early_stopping": 5}),
            ("add L2", {"l2": 1e-4}),
            ("add dropout", {"dropout": 0.2}),
            ("get more data (or augment it)", {}),
        ]
    elif any(b > (1 + SPIKE) * a for a, b in zip(loss, loss[1:], strict=False)):
        curve = "noisy"
        findings.append("the train loss jumped by > 50% between epochs")
        remedies += [
            ("halve the learning rate", {"lr": float(f"{lr / 2:.3g}")}),
            ("use larger batches", {"batch_size": 2 * int(s.get("batch_size") or 32)}),
        ]
    elif (acc and float(acc[-1]) < UNDERFIT_ACC) or (len(loss) > 1 and loss[-1] > 0.9 * loss[0]):
        curve = "underfitting"
        findings.append(f"train loss {loss[-1]:.3g}" + (f", train accuracy {float(acc[-1]):.3g}"
                                                         if acc else ""))  # fmt: skip
        if status is None:
            remedies += [
                ("train longer", {"epochs": 2 * int(s.get("epochs") or 30)}),
                ("use a larger model", {"hidden": "256,128"}),
                ("raise the learning rate", {"lr": float(f"{lr * 3:.3g}")}),
            ]
    return curve
