"""The Optimizer base class runs the step: a new optimizer writes only its update for one
parameter (and its initial state), and gets groups, skipping, step counting, weight decay,
state_dict and Trainer support from the base."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD, Optimizer


def _param(values):
    return nn.Parameter(np.array(values, dtype=np.float64), dtype=np.float64)


def _set_grad(p, values):
    p.grad = dp.Tensor(np.asarray(values, dtype=p.data.dtype), dtype=p.data.dtype)


class SignSGD(Optimizer):
    """``w = w - lr * sign(g)``: no state."""

    def __init__(self, params, lr=0.1, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    def update(self, w, g, state, group):
        w -= group["lr"] * np.sign(g)


class HeavyBall(Optimizer):
    """``b_t = mu * b_{t-1} + g`` (b_0 = 0), ``w = w - lr * b_t / t``: a buffer and the step."""

    counts_steps = True

    def __init__(self, params, lr=0.1, mu=0.5, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "mu": mu, "weight_decay": weight_decay})

    def init_state(self, w, group):
        return {"buf": np.zeros_like(w)}

    def update(self, w, g, state, group):
        buf = state["buf"]
        buf *= group["mu"]
        buf += g
        w -= group["lr"] * buf / state["step"]


class DecoupledSign(SignSGD):
    decoupled_weight_decay = True


class EagerHeavyBall(HeavyBall):
    eager_state = True


def test_a_rule_with_only_an_update_steps_every_parameter_that_has_a_gradient():
    # a = [1, -2] with g = [3, -0.5]: sign = [1, -1], lr = 0.25 -> [0.75, -1.75]; b has no grad.
    a, b = _param([1.0, -2.0]), _param([5.0])
    opt = SignSGD([a, b], lr=0.25)
    _set_grad(a, [3.0, -0.5])
    opt.step()
    np.testing.assert_array_equal(a.data, [0.75, -1.75])
    np.testing.assert_array_equal(b.data, [5.0])
    assert opt.state_dict()["state"] == {}  # an empty state is not saved


def test_state_is_made_at_the_first_update_and_the_step_is_counted_before_update_runs():
    # g = 2, mu = 0.5, lr = 0.1:  t = 1: b = 2, w = 1 - 0.1 * 2 / 1 = 0.8
    #                             t = 2: b = 0.5 * 2 + 2 = 3, w = 0.8 - 0.1 * 3 / 2 = 0.65
    p, q = _param([1.0]), _param([1.0])
    opt = HeavyBall([p, q])
    assert opt.state == {}
    _set_grad(p, [2.0])
    opt.step()
    assert q not in opt.state  # no gradient yet: no state either
    assert list(opt.state[p]) == ["step", "buf"] and opt.state[p]["step"] == 1
    opt.step()
    np.testing.assert_allclose(p.data, [0.65], rtol=1e-15)
    assert opt.state[p]["step"] == 2
    np.testing.assert_array_equal(opt.state[p]["buf"], [3.0])


def test_eager_state_is_made_for_every_parameter_and_every_added_group():
    p, q = _param([1.0]), _param([2.0, 3.0])
    opt = EagerHeavyBall([p])
    assert opt.state[p]["step"] == 0
    opt.add_param_group({"params": [q], "lr": 0.5})
    np.testing.assert_array_equal(opt.state[q]["buf"], [0.0, 0.0])


def test_weight_decay_is_applied_by_the_base_class_as_l2_or_decoupled():
    # w = 2, g = 0 (sign 0), lam = 0.5, lr = 0.1.
    # L2: g = 0 + 0.5 * 2 = 1 -> w = 2 - 0.1 * sign(1) = 1.9
    # decoupled: w = 2 * (1 - 0.1 * 0.5) = 1.9, then sign(0) = 0 moves nothing -> 1.9
    # with w = 4: L2 -> 3.9; decoupled -> 3.8.
    p, q = _param([2.0, 4.0]), _param([2.0, 4.0])
    _set_grad(p, [0.0, 0.0])
    _set_grad(q, [0.0, 0.0])
    SignSGD([p], lr=0.1, weight_decay=0.5).step()
    DecoupledSign([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, [1.9, 3.9], rtol=1e-15)
    np.testing.assert_allclose(q.data, [1.9, 3.8], rtol=1e-15)
    np.testing.assert_array_equal(p.grad.data, [0.0, 0.0])  # the gradient itself is untouched


def test_each_group_uses_its_own_hyperparameters():
    a, b = _param([1.0]), _param([1.0])
    opt = SignSGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    _set_grad(a, [1.0])
    _set_grad(b, [1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])


def test_a_custom_rule_round_trips_through_state_dict_and_json():
    p, q = _param([1.0, 2.0]), _param([1.0, 2.0])
    opt = HeavyBall([p], lr=0.2)
    for g in ([1.0, -1.0], [0.5, 2.0]):
        _set_grad(p, g)
        opt.step()
    saved = json.loads(json.dumps(opt.state_dict(), default=lambda a: a.tolist()))
    q.data[...] = p.data
    opt2 = HeavyBall([q], lr=0.9)
    opt2.load_state_dict(saved)
    for g in ([3.0, 0.25], [-1.0, 1.0]):
        _set_grad(p, g)
        _set_grad(q, g)
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(q.data, p.data)
    assert opt2.state[q]["step"] == 4


def test_a_custom_rule_trains_through_the_trainer(toy):
    # Over seeds 0-4 the loss ends at 0.63-0.73 of where it started; 0.85 leaves a margin.
    X, y = toy(n=64, d=3, seed=1)
    dp.seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = HeavyBall(model.parameters(), lr=0.5)
    history = dp.Trainer(model, nn.CrossEntropyLoss(), opt).fit(
        X, y, epochs=30, descent="batch", verbose=False
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.85 * losses[0]
    assert all(s["step"] == 30 for s in opt.state.values()) and len(opt.state) == 4


def test_a_rule_without_update_says_so():
    class NoRule(Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    p = _param([1.0])
    _set_grad(p, [1.0])
    with pytest.raises(NotImplementedError, match="NoRule does not define update"):
        NoRule([p]).step()


def test_plain_sgd_keeps_no_saved_state_but_momentum_does():
    p, q = _param([1.0]), _param([1.0])
    plain, heavy = SGD([p], lr=0.1), SGD([q], lr=0.1, momentum=0.9)
    for _ in range(2):
        _set_grad(p, [1.0])
        _set_grad(q, [1.0])
        plain.step()
        heavy.step()
    assert plain.state_dict()["state"] == {}
    assert set(heavy.state_dict()["state"][0]) == {"momentum_buffer"}


def test_bad_hyperparameters_of_a_custom_rule_are_checked_by_the_base():
    with pytest.raises(ConfigError, match=r"lr: expected a finite number > 0, got 0"):
        SignSGD([_param([1.0])], lr=0)
