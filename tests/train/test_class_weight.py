"""A Trainer with CrossEntropyLoss(weight=...) trains on, and reports, the weighted loss."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.train import Trainer

W = np.array([1.0, 4.0, 0.5])


def weighted_loss_by_hand(logits, y, w):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(y)), y]
    return float((w[y] * nll).sum() / w[y].sum())


def setup(weight, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((24, 4)).astype(np.float32)
    y = np.array([0] * 18 + [1] * 4 + [2] * 2)
    dp.seed(seed)
    model = nn.Linear(4, 3)
    trainer = Trainer(model, loss=nn.CrossEntropyLoss(weight=weight), optimizer=optim.SGD(
        model.parameters(), lr=0.1))  # fmt: skip
    return trainer, model, X, y


def test_reported_loss_is_the_weighted_loss():
    trainer, model, X, y = setup(W)
    logits = np.asarray(model(dp.tensor(X)).data, dtype=np.float64)
    expected = weighted_loss_by_hand(logits, y, W)
    assert trainer.evaluate(X, y)["loss"] == pytest.approx(expected, rel=1e-5)
    # One full batch: the epoch's loss is the loss before the step, on all the rows.
    history = trainer.fit(X, y, epochs=1, batch_size=len(y), shuffle=False, verbose=False)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    unweighted = weighted_loss_by_hand(logits, y, np.ones(3))
    assert abs(expected - unweighted) > 1e-3  # the check can tell the two apart


def test_the_step_follows_the_weighted_gradient():
    weighted, model_w, X, y = setup(W)
    plain, model_p, _, _ = setup(None)
    for trainer in (weighted, plain):
        trainer.fit(X, y, epochs=1, batch_size=len(y), shuffle=False, verbose=False)
    # Same start (same seed), different losses: the weights move differently.
    assert not np.allclose(model_w.weight.data, model_p.weight.data)


def test_a_weight_of_the_wrong_length_is_refused_in_fit():
    trainer, _, X, y = setup(np.ones(2))
    with pytest.raises(dp.errors.ShapeError, match="weight: expected one weight per class"):
        trainer.fit(X, y, epochs=1, verbose=False)
