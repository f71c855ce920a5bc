"""The bias folded into the GEMM (compile/fusion.py): ``[x, 1] @ [W; b]`` under plain SGD,
within 1e-6 relative of the eager step, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.compile import fusion

from .test_replay import X_DENSE, Y_DENSE, assert_same_state, eager_steps
from .test_source import twins

RNG = np.random.default_rng(5)


def sgd(params, **kw):
    return optim.SGD(params, lr=0.05, **kw)


PRODUCERS = {
    "relu": lambda: nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
    "tanh": lambda: nn.Sequential(
        nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 3)
    ),  # fmt: skip
    "dropout": lambda: nn.Sequential(
        nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3)
    ),  # fmt: skip
    # an input the fold cannot write into (layer norm's output): copied in
    "layernorm": lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 3)),
}


@pytest.mark.parametrize("name", list(PRODUCERS))
def test_folded_step_matches_eager_over_100_steps(name):
    (m1, o1), (m2, o2) = twins(PRODUCERS[name], sgd)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    dp.seed(3)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 100)
    dp.seed(3)
    for _ in range(100):
        step(X_DENSE, Y_DENSE)
    assert_same_state(m1, m2, exact=False)
    text = step.describe()
    assert text.count("[bias folded into the GEMM]") == sum(
        isinstance(m, nn.Linear) for m in m2.modules()
    ), text
    if name == "layernorm":
        assert "[h2, 1] <- h2" in text  # copied: layer norm writes its own buffer
    else:
        assert "into the next layer's [x, 1]" in text
    # weight and bias are the rows of one array, which the replay updates in place
    w, b = m2[0].weight.data, m2[0].bias.data
    assert w.base is not None and w.base is b.base and w.base.shape == (7, 8)
    assert m2[0].weight.grad is None and m2[0].bias.grad is None


def test_nothing_is_folded_without_the_fused_update():
    """Momentum, weight decay, another optimizer, fuse_update=False: eager's arithmetic,
    bit for bit, and the parameters keep arrays of their own."""
    cases = [
        (lambda p: sgd(p, momentum=0.9), {}),
        (lambda p: sgd(p, weight_decay=1e-3), {}),
        (lambda p: optim.Adam(p, lr=1e-2), {}),
        (sgd, {"fuse_update": False}),
    ]
    for make_opt, kw in cases:
        (m1, o1), (m2, o2) = twins(PRODUCERS["relu"], make_opt)
        step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2, **kw)
        eager_steps(m1, o1, X_DENSE, Y_DENSE, 20)
        for _ in range(20):
            step(X_DENSE, Y_DENSE)
        assert "folded" not in step.describe()
        assert m2[0].weight.data.base is None
        assert_same_state(m1, m2, exact=True)


def test_a_wide_input_at_a_large_batch_is_not_copied():
    """The batch is copied into [x, 1] only where that is cheaper than the bias's passes:
    an input wider than COPY_WIDTH times the output and over SMALL_INPUT numbers keeps its
    bias add."""
    n = fusion.SMALL_INPUT // 40 + 1
    X = RNG.standard_normal((n, 40)).astype(np.float32)
    y = RNG.integers(0, 3, n)
    make = lambda: nn.Sequential(nn.Linear(40, 8), nn.ReLU(), nn.Linear(8, 3))  # noqa: E731
    (m1, o1), (m2, o2) = twins(make, sgd)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X, y, 30)
    for _ in range(30):
        step(X, y)
    text = step.describe()
    assert "h1 = dot(x, 0.weight); h1 += 0.bias" in text  # the first layer: not folded
    assert "h3 = dot([h2, 1], [2.weight; 2.bias])" in text  # the ReLU writes into [h2, 1]
    assert "relu(h1)  [into the next layer's [x, 1]]" in text
    assert_same_state(m1, m2, exact=False)


def test_two_batch_shapes_share_one_weight_array():
    """The last short batch gets its own recording, folded onto the same [W; b]: neither
    recording invalidates the other (each is recorded once)."""
    X = RNG.standard_normal((20, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 20)
    (m1, o1), (m2, o2) = twins(PRODUCERS["relu"], sgd)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    for _ in range(10):
        for xb, yb in ((X[:12], y[:12]), (X[12:], y[12:])):
            eager_steps(m1, o1, xb, yb, 1)
            step(xb, yb)
    assert step.recordings == 2 and step.replays == 18
    assert_same_state(m1, m2, exact=False)


def test_a_loaded_state_and_a_later_momentum_are_followed():
    (m1, o1), (m2, o2) = twins(PRODUCERS["relu"], sgd)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    for _ in range(5):
        step(X_DENSE, Y_DENSE)
    # load_state_dict: the loaded values are trained from, not the folded array's old ones
    m2.load_state_dict(m1.state_dict())
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 10)
    for _ in range(10):
        step(X_DENSE, Y_DENSE)
    assert_same_state(m1, m2, exact=False)
    # momentum set after the fold: both gradients go to the optimizer (views of [dW; db])
    for o in (o1, o2):
        o.param_groups[0]["momentum"] = 0.9
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 10)
    for _ in range(10):
        step(X_DENSE, Y_DENSE)
    assert m2[0].weight.grad is not None and m2[0].bias.grad is not None
    assert_same_state(m1, m2, exact=False)
    for p in (m2[0].weight, m2[0].bias):
        assert p.grad.data.shape == p.data.shape


def test_gradients_kept_for_a_reader_are_eager_s():
    """A step that may not fuse (the Trainer says so while clipping reads the gradients)
    still folds the bias: [dW; db] from one GEMM, each parameter's .grad a view of it."""
    (m1, o1), (m2, o2) = twins(PRODUCERS["relu"], sgd)
    allowed = [True]
    step = dp.compile.CompiledStep(m2, nn.CrossEntropyLoss(), o2, fusion_allowed=lambda: allowed[0])
    step(X_DENSE, Y_DENSE)
    eager_steps(m1, o1, X_DENSE, Y_DENSE, 1)
    assert "[bias folded into the GEMM]" in step.describe()
    allowed[0] = False
    step.forward(X_DENSE, Y_DENSE)
    step.backward()
    o1.zero_grad()
    loss = nn.CrossEntropyLoss()(m1(dp.Tensor(X_DENSE)), dp.Tensor(Y_DENSE))
    loss.backward()
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(q.grad.data, p.grad.data, rtol=1e-5, atol=1e-7)


def test_a_float64_model_folds_too():
    """float64 parameters and batch: [W; b] in float64, within 1e-6 of eager (the suite's
    other fold tests are float32)."""
    from deltaprop import backend

    old = backend.default_dtype()
    backend.set_default_dtype(np.float64)
    try:
        (m1, o1), (m2, o2) = twins(PRODUCERS["tanh"], sgd)
    finally:
        backend.set_default_dtype(old)
    X = X_DENSE.astype(np.float64)
    step = dp.compile_step(m2, nn.CrossEntropyLoss(), o2)
    eager_steps(m1, o1, X, Y_DENSE, 50)
    for _ in range(50):
        step(X, Y_DENSE)
    assert "[bias folded into the GEMM]" in step.describe()
    assert m2[0].weight.data.base.dtype == np.float64
    assert_same_state(m1, m2, exact=False)
