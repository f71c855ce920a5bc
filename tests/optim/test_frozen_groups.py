"""Frozen parameters are left alone by every optimizer (weight decay included) and by the
Trainer's penalties; parameter groups carry their own learning rates."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"])
def test_a_frozen_parameter_is_not_stepped_even_with_a_stale_gradient(name):
    dp.seed(0)
    model = nn.Linear(3, 2)
    opt = optim.get_optimizer(name, model.parameters(), lr=0.1, weight_decay=0.5)
    model(dp.tensor(np.ones((4, 3), np.float32))).sum().backward()
    w, b = model.weight.numpy().copy(), model.bias.numpy().copy()
    model.weight.requires_grad = False  # its gradient is still there: a hand-written loop
    opt.step()
    np.testing.assert_array_equal(model.weight.numpy(), w)  # no step, no decay
    assert not np.array_equal(model.bias.numpy(), b)


def test_parameter_groups_have_their_own_learning_rates():
    dp.seed(0)
    model = nn.mlp(3, [4], 2)
    body = model[0].parameters()
    opt = optim.SGD([{"params": body, "lr": 0.01}, {"params": model[2].parameters()}], lr=1.0)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model(dp.tensor(np.ones((2, 3), np.float32))).sum().backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    opt.step()
    after = model.state_dict()
    for name, lr in (("0.weight", 0.01), ("0.bias", 0.01), ("2.weight", 1.0), ("2.bias", 1.0)):
        np.testing.assert_allclose(after[name], before[name] - lr * grads[name], rtol=1e-6)


def test_trainer_leaves_frozen_weights_alone_with_penalties_and_refuses_all_frozen():
    dp.seed(0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    model = nn.mlp(3, [5], 2).freeze(0)
    w = model[0].weight.numpy().copy()
    trainer = dp.Trainer(model, "cross_entropy", "sgd", l1=0.1, l2=0.1)
    trainer.fit(X, y, epochs=2, verbose=False)
    np.testing.assert_array_equal(model[0].weight.numpy(), w)
    model.freeze()
    with pytest.raises(ConfigError, match="every parameter .* is frozen"):
        trainer.fit(X, y, epochs=1, verbose=False)
