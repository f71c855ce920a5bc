"""Self-training (pseudo-labelling): the model labels the unlabeled rows it is sure of, and
trains on them beside the labeled rows, in rounds.

Round 0 trains on the labeled rows alone. Before each round r = 1..R the current model
predicts every unlabeled row; of the rows whose largest class probability is at least
``threshold``, the most confident ones enter as pseudo-labeled rows, at most
``ceil(M * r / R)`` of the M unlabeled rows (the schedule: a share that grows linearly, so the
model first learns from the rows it is surest of, and all unlabeled rows may be in by the last
round). The quota is shared between the classes as the labeled rows are (pseudo-labels then
keep the labeled class balance instead of piling onto the class the model favours), and every
round labels afresh from the current model, so an early mistake can be undone. Each round is
one ``Trainer.fit`` of ``epochs`` epochs that carries on from the weights the last one left, on
the labeled rows (oversampled to M rows: they keep at least half the weight however many
pseudo-labels come in) and the round's pseudo-labeled rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import backend
from ..checks import check_fraction, check_int
from ..train import Trainer
from ..train.callbacks import History
from .base import SemiSupervised, oversample


def select_pseudo_labels(
    probs: np.ndarray, quota: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, labels)`` of the pseudo-labeled rows, rows sorted.

    Args:
        probs: (M, C) class probabilities of the unlabeled rows.
        quota: (C,) the most rows that may enter per predicted class.
        threshold: the least largest-probability a row needs to enter.

    Within a class the most confident rows go first (ties: the earlier row), so the choice
    depends on nothing but ``probs``.
    """
    labels = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    chosen = []
    for c in range(probs.shape[1]):
        rows = np.flatnonzero((labels == c) & (confidence >= threshold))
        order = np.argsort(-confidence[rows], kind="stable")
        chosen.append(rows[order[: int(quota[c])]])
    rows = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
    return rows, labels[rows]


def class_quotas(shares: np.ndarray, total: int) -> np.ndarray:
    """(C,) whole numbers that sum to ``total`` in the proportions ``shares`` (C,) (summing to
    1): the floors, and one more for the classes with the largest remainders (ties: the
    lower class)."""
    exact = shares * total
    quota = np.floor(exact).astype(np.int64)
    left = int(total - quota.sum())
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[:left]] += 1
    return quota


class SelfTraining(SemiSupervised):
    """Self-training with a confidence threshold and a linear schedule of pseudo-labels (see
    the module docstring).

    Args:
        threshold: the least class probability for a pseudo-label, in [0, 1).
        rounds: rounds with pseudo-labels after the labeled-only round 0 (R >= 1); ``fit``
            then trains ``(rounds + 1) * epochs`` epochs in all.

    >>> import numpy as np, deltaprop as dp
    >>> from deltaprop import nn, semi
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 2)).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> dp.seed(0)
    >>> trainer = dp.Trainer(nn.mlp(2, (8,), 2), loss="cross_entropy", optimizer="adam", lr=0.01)
    >>> method = semi.SelfTraining(threshold=0.8, rounds=2)
    >>> history = method.fit(trainer, X[:10], y[:10], X[10:], epochs=3, verbose=False)
    >>> history.history["round"]
    [0, 0, 0, 1, 1, 1, 2, 2, 2]
    """

    name = "self-training"

    def __init__(self, threshold: float = 0.9, rounds: int = 4) -> None:
        self.threshold = check_fraction(threshold, "threshold", closed_low=True)
        self.rounds = check_int(rounds, "rounds")

    def options(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "rounds": self.rounds}

    def _train(
        self, trainer: Trainer, X: Any, y: Any, U: Any, n_out: int, fit_kwargs: dict[str, Any]
    ) -> History:
        verbose = fit_kwargs.get("verbose", True)
        n_l, m = X.shape[0], U.shape[0]
        y_np = backend.to_numpy(y).astype(np.int64)
        shares = np.bincount(y_np, minlength=n_out) / n_l
        xp = backend.xp_of(X)
        merged = History()
        for r in range(self.rounds + 1):
            Xr, yr = oversample(X, y, m)
            line = f"{self.name} round {r}/{self.rounds}: {n_l} labeled rows"
            if r > 0:
                quota = class_quotas(shares, math.ceil(m * r / self.rounds))
                rows, labels = select_pseudo_labels(trainer.predict(U), quota, self.threshold)
                Xr = xp.concatenate([Xr, U[xp.asarray(rows)]])
                yr = xp.concatenate([yr, xp.asarray(labels.astype(y_np.dtype))])
                line += (
                    f" + {len(rows)} of {m} unlabeled rows pseudo-labeled (confidence >= "
                    f"{self.threshold:g})"
                )
            if verbose:
                print(line, flush=True)
            history = trainer.fit(Xr, yr, **fit_kwargs)
            _append(merged, history, r)
        trainer.history = merged
        return merged


def _append(merged: History, history: History, round_: int) -> None:
    """``history``'s epochs after ``merged``'s, each with its ``round``."""
    start = len(merged.epoch)
    for i, key_values in enumerate(zip(*history.history.values())):
        merged.epoch.append(start + i)
        for key, value in zip(history.history, key_values):
            merged.history.setdefault(key, []).append(value)
        merged.history.setdefault("round", []).append(round_)
    merged.params = {**history.params, "rounds": round_ + 1}
