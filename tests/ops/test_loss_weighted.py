"""Class-weighted cross-entropy: float64 gradient checks (labels and probabilities, each
reduction, one row and one class), PyTorch parity of the value and the gradient, bad weights.

A worked example: logits 0 for two classes (p = 1/2 each, nll = log 2), labels [0, 1, 1],
weights [3, 1]: 'sum' is (3 + 1 + 1) log 2, 'mean' divides by sum w[y_i] = 5, so log 2.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops
from deltaprop.autograd import gradcheck_errors
from deltaprop.errors import ConfigError, ShapeError

REDUCTIONS = ("mean", "sum", "none")
SHAPES = [(5, 3), (1, 3), (4, 1), (1, 1)]


def t64(a, grad=True):
    return dp.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad, dtype=np.float64)


def cases(n, c, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    t = rng.dirichlet(np.ones(c), n)
    w = rng.uniform(0.2, 3.0, c)
    return z, y, t, w


def test_worked_example():
    z, y, w = np.zeros((3, 2)), np.array([0, 1, 1]), np.array([3.0, 1.0])
    assert float(ops.cross_entropy(z, y, "sum", weight=w).data) == pytest.approx(5 * np.log(2))
    assert float(ops.cross_entropy(z, y, weight=w).data) == pytest.approx(np.log(2))
    per_row = ops.cross_entropy(z, y, "none", weight=w).data
    np.testing.assert_allclose(per_row, np.log(2) * np.array([3.0, 1.0, 1.0]))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_labels(shape, reduction):
    z, y, _, w = cases(*shape)
    errors = gradcheck_errors(lambda a: ops.cross_entropy(a, y, reduction, weight=w), [t64(z)])
    assert errors[0] < 1e-6


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_probabilities(shape, reduction):
    z, _, t, w = cases(*shape, seed=1)

    def fn(a, b):
        return ops.cross_entropy(a, b, reduction, weight=w)

    errors = gradcheck_errors(fn, [t64(z), t64(t)])  # the targets get a gradient too
    assert max(errors) < 1e-6


def test_unit_weights_match_the_unweighted_loss():
    z, y, t, _ = cases(6, 4)
    for target in (y, t):
        for reduction in REDUCTIONS:
            a = ops.cross_entropy(z, target, reduction, weight=np.ones(4)).data
            b = ops.cross_entropy(z, target, reduction).data
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_module_and_get_config():
    z, y, _, w = cases(5, 3)
    loss = nn.CrossEntropyLoss(weight=w)
    assert float(loss(dp.tensor(z), y).data) == pytest.approx(
        float(ops.cross_entropy(z, y, weight=w).data)
    )
    assert loss.get_config() == {"reduction": "mean", "weight": w.tolist()}
    assert nn.CrossEntropyLoss().weight is None


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_parity(soft, reduction):
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("torch.nn.functional")
    z, y, t, w = cases(7, 4, seed=3)
    target = t if soft else y
    a = t64(z)
    out = ops.cross_entropy(a, target, reduction, weight=w)
    (out.sum() if reduction == "none" else out).backward()
    b = torch.tensor(z, requires_grad=True)
    ref = functional.cross_entropy(
        b, torch.tensor(target), weight=torch.tensor(w), reduction=reduction
    )
    (ref.sum() if reduction == "none" else ref).backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(a.grad.data), b.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "weight, error, words",
    [
        ([1.0, 2.0], ShapeError, "one weight per class (3)"),
        ([[1.0, 2.0, 3.0]], ShapeError, "1-D"),
        ([1.0, np.nan, 1.0], ConfigError, "finite"),
        ([1.0, np.inf, 1.0], ConfigError, "finite"),
        ([1.0, -1.0, 1.0], ConfigError, ">= 0"),
        ([0.0, 0.0, 0.0], ConfigError, "all zeros"),
        (["a", "b", "c"], ConfigError, "numbers"),
    ],
)
def test_bad_weights(weight, error, words):
    z, y, _, _ = cases(4, 3)
    with pytest.raises(error, match="weight") as info:
        ops.cross_entropy(z, y, weight=weight)
    assert words in str(info.value)


def test_bad_weights_refused_by_the_module():
    with pytest.raises(ConfigError, match="weight: expected per-class weights >= 0"):
        nn.CrossEntropyLoss(weight=[1.0, -2.0])
