"""The generated replay source: what it says, and the paths of its text that only some models
take (a weight used twice, a one-row batch, a model changed after compiling)."""

from __future__ import annotations

import re

import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.nn.module import Module, tree_version

from .test_replay import X_DENSE, Y_DENSE, assert_same_state, eager_steps, lockstep


def twins(make_model, make_optimizer):
    """Two identical (model, optimizer) pairs: one trains eagerly, one compiled."""
    pairs = []
    for _ in range(2):
        dp.seed(0)
        model = make_model()
        pairs.append((model, make_optimizer(model.parameters())))
    return pairs


def test_source_of_linear_relu_cross_entropy_reads_as_numpy():
    dp.seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)  # momentum: no fused update
    step = dp.compile_step(model, nn.CrossEntropyLoss(), opt)
    assert "nothing recorded" in step.source()
    step(X_DENSE, Y_DENSE)
    text = step.source()
    assert "# recording for x (12, 6) float32" in text
    for line in (
        "def forward(x, y):",
        "greater(v6, 0, k1_mask)",
        "v7 = multiply(v6, k1_mask, v6)",  # ReLU in place in the linear's buffer
        "exp(k3_z, k3_e)",
        "def backward():",
        "g6 = multiply(g7, k1_mask, g7)",
        "    g2 = dot(x.T, g6, k0_gw)",  # (the fused update's branch is the other one)
        "subtract(p2, dot(k0_scaled.T, g6, k0_gw), p2)",
        "P0.grad = W0",
    ):
        assert line in text, text
    compile(text, "<test>", "exec")  # what it prints is the code it runs


class Tied(Module):
    """One square linear applied twice: its weight's gradient is the sum of two."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.mid = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = self.mid(self.inp(x).relu()).tanh()
        return self.out(self.mid(h).relu())


@pytest.mark.parametrize("opt", ["sgd", "momentum"])
def test_a_weight_used_twice_sums_its_gradients(opt, monkeypatch):
    monkeypatch.setattr("deltaprop.compile.dense._ONE_BLAS", [True])  # fusion must stand aside
    kwargs = {"lr": 0.05} if opt == "sgd" else {"lr": 0.05, "momentum": 0.9}
    (m1, o1), (m2, o2) = twins(lambda: Tied(), lambda p: optim.SGD(p, **kwargs))
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 20)
    for _ in range(20):
        step(X_DENSE, Y_DENSE)
    assert step.replays == 19
    assert re.search(r"g(\d+) = g\1 \+ r\d", step.source())  # the second contribution added
    assert_same_state(m1, m2, exact=True)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_one_row_batches_give_the_eager_loss_and_weights(reduction):
    (m1, o1), (m2, o2) = twins(
        lambda: nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3)),
        lambda p: optim.Adam(p, lr=1e-2),
    )
    loss_fn = nn.CrossEntropyLoss(reduction=reduction)
    step = dp.compile_step(m2, loss_fn, o2)
    for i in range(12):
        lockstep(m1, o1, step, loss_fn, X_DENSE[i : i + 1], Y_DENSE[i : i + 1])
    assert_same_state(m1, m2, exact=True)


def test_a_layer_added_after_compiling_is_recorded_again():
    """Appending a layer changes the forward: the old recording must not replay (the module
    tree is re-read when any Module attribute was set), and training matches an eager twin
    changed at the same point."""
    (m1, o1), (m2, o2) = twins(
        lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
    )
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 3)
    for _ in range(3):
        step(X_DENSE, Y_DENSE)
    version = tree_version()
    for m in (m1, m2):
        m.append(nn.Tanh())  # no new parameter: only the forward changes
    assert tree_version() != version
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 3)
    for _ in range(3):
        step(X_DENSE, Y_DENSE)
    assert step.recordings == 2
    assert "tanh" in step.source()
    assert_same_state(m1, m2, exact=True)


class Square(Module):
    """h * h: one op whose two inputs are the same value (two gradients to add)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = self.inp(x).tanh()
        return self.out(h * h)


def test_an_op_with_one_value_twice_adds_both_gradients():
    (m1, o1), (m2, o2) = twins(lambda: Square(), lambda p: optim.SGD(p, lr=0.05, momentum=0.9))
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 10)
    for _ in range(10):
        step(X_DENSE, Y_DENSE)
    assert step.replays == 9
    assert_same_state(m1, m2, exact=True)


def test_bias_update_inside_the_backward_is_eager_bit_for_bit():
    """Plain SGD: a linear bias is updated in its backward with SGD's own arithmetic (b -=
    lr * sum_rows(g)); with the weights frozen nothing else is fused, so all is exact."""
    (m1, o1), (m2, o2) = twins(
        lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
        lambda p: optim.SGD(p, lr=0.05),
    )
    for m in (m1, m2):
        m[0].weight.requires_grad = m[2].weight.requires_grad = False
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 30)
    for _ in range(30):
        step(X_DENSE, Y_DENSE)
    assert "0.bias -= lr * sum_rows(dh1)" in step.describe()
    assert m2[0].bias.grad is None  # never stored
    assert_same_state(m1, m2, exact=True)


def test_each_parameter_follows_its_own_group():
    """Weights in a plain group (fused), biases in a group with momentum (not fused)."""

    def groups(params):
        params = list(params)
        return optim.SGD([{"params": params[0::2]},
                          {"params": params[1::2], "momentum": 0.9}], lr=0.05)  # fmt: skip

    (m1, o1), (m2, o2) = twins(
        lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), groups
    )
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 30)
    for _ in range(30):
        step(X_DENSE, Y_DENSE)
    assert m2[0].weight.grad is None and m2[0].bias.grad is not None
    assert_same_state(m1, m2, exact=False)
    assert o2.state[m2[0].bias]["momentum_buffer"] is not None
