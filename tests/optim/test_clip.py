"""clip_grad_norm and clip_grad_value: by hand, against torch.nn.utils, NaN/Inf, bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, TrainingError
from deltaprop.optim import clip_grad_norm, clip_grad_value


def _param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype), dtype=dtype)


def _with_grad(values, dtype=np.float64):
    p = _param(np.zeros_like(np.asarray(values, dtype=dtype)), dtype=dtype)
    p.grad = dp.Tensor(np.array(values, dtype=dtype), dtype=dtype)
    return p


def test_norm_clipping_by_hand():
    # Gradients [3] and [[4]] form the vector (3, 4), of 2-norm 5. max_norm = 1: scale by
    # c = 1 / (5 + 1e-6) -> (0.6, 0.8) (a hair less); the returned norm is 5, from before.
    a, b = _with_grad([3.0]), _with_grad([[4.0]])
    norm = clip_grad_norm([a, b], max_norm=1.0)
    assert isinstance(norm, float) and norm == 5.0
    c = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad.data, [3 * c], rtol=1e-15)
    np.testing.assert_allclose(b.grad.data, [[4 * c]], rtol=1e-15)
    # Below the limit nothing changes: 1-norm 7 < 10; inf-norm 4 < 4.5.
    a, b = _with_grad([3.0]), _with_grad([[-4.0]])
    assert clip_grad_norm([a, b], 10.0, norm_type=1) == 7.0
    assert clip_grad_norm([a, b], 4.5, norm_type="inf") == 4.0
    np.testing.assert_array_equal(b.grad.data, [[-4.0]])


def test_clip_grad_value_by_hand():
    a = _with_grad([-3.0, 0.5, 2.0])
    assert clip_grad_value([a], 1.0) is None
    np.testing.assert_array_equal(a.grad.data, [-1.0, 0.5, 1.0])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    shapes = [(4, 3), (3,), (2, 2), (5,)]
    values = [rng.standard_normal(s) for s in shapes]
    ours = [_with_grad(v) for v in values]
    ours[2].grad = None  # a parameter without gradient is skipped
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for t, v in zip(theirs, values):
        t.grad = torch.tensor(v)
    theirs[2].grad = None
    norm = clip_grad_norm(ours, max_norm, norm_type=norm_type)
    tnorm = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert norm == pytest.approx(float(tnorm), rel=1e-13)
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-13)
    if max_norm < norm:
        # After clipping the norm sits just below max_norm.
        assert clip_grad_norm(ours, math.inf, norm_type=norm_type) == pytest.approx(
            max_norm, rel=1e-5
        )


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(4).standard_normal((6, 5)) * 2
    p = _with_grad(values)
    t = torch.zeros((6, 5), dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(values)
    clip_grad_value([p], 0.7)
    torch.nn.utils.clip_grad_value_([t], 0.7)
    np.testing.assert_array_equal(p.grad.data, t.grad.numpy())


def test_float32_stays_float32_in_place_and_model_parameters_work():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = dp.tensor(np.random.default_rng(0).standard_normal((5, 3)) * 100)
    model(x).sum().backward()
    grads = [p.grad.data for p in model.parameters()]
    norm = clip_grad_norm(model.parameters(), 1e-3)
    assert norm > 1e-3
    for p, g in zip(model.parameters(), grads):
        assert p.grad.data is g and g.dtype == np.float32
    # A generator and a single Tensor are accepted too.
    assert clip_grad_norm((p for p in model.parameters()), 1.0) == pytest.approx(1e-3, rel=1e-3)
    clip_grad_value(model[0].weight, 1e-5)
    assert np.abs(model[0].weight.grad.data).max() <= 1e-5


def test_no_gradients_gives_norm_zero():
    assert clip_grad_norm([_param([1.0]), _param([2.0])], 1.0) == 0.0
    clip_grad_value([_param([1.0])], 1.0)  # nothing to do, no error


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_if_nonfinite(bad):
    a, b = _with_grad([1.0, bad]), _with_grad([2.0])
    with pytest.raises(TrainingError, match=rf"2.0-norm of the gradients is {bad}"):
        clip_grad_norm([a, b], 1.0, error_if_nonfinite=True)
    # The gradients are left as they were.
    np.testing.assert_array_equal(a.grad.data, [1.0, bad])
    np.testing.assert_array_equal(b.grad.data, [2.0])
    # Without the flag the norm is returned; an infinite norm scales the finite entries to 0.
    norm = clip_grad_norm([a, b], 1.0)
    assert math.isnan(norm) if np.isnan(bad) else norm == math.inf
    if np.isinf(bad):
        np.testing.assert_array_equal(b.grad.data, [0.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_norm": 0}, r"max_norm: expected a number > 0, got 0"),
        ({"max_norm": -1.0}, r"max_norm: expected a number > 0, got -1.0"),
        ({"max_norm": float("nan")}, r"max_norm: expected a number > 0"),
        ({"max_norm": "1"}, r"max_norm: expected a number > 0, got '1'"),
        ({"max_norm": None}, r"max_norm: expected a number > 0, got None"),
        ({"max_norm": True}, r"max_norm: expected a number > 0, got True"),
        ({"max_norm": 1.0, "norm_type": 0}, r"norm_type: expected a number > 0 or 'inf', got 0"),
        ({"max_norm": 1.0, "norm_type": -2}, r"norm_type: expected a number > 0 or 'inf'"),
        ({"max_norm": 1.0, "norm_type": "two"}, r"norm_type: expected a number > 0 or 'inf'"),
        ({"max_norm": 1.0, "error_if_nonfinite": 1}, r"error_if_nonfinite: expected True or"),
    ],
)
def test_clip_grad_norm_bad_arguments(kwargs, match):
    p = _with_grad([3.0, 4.0])
    with pytest.raises(ConfigError, match=match):
        clip_grad_norm([p], **kwargs)
    np.testing.assert_array_equal(p.grad.data, [3.0, 4.0])


def test_bad_params_and_clip_value():
    p = _with_grad([3.0, 4.0])
    with pytest.raises(ConfigError, match=r"params: expected a Tensor or an iterable of Tensors"):
        clip_grad_norm(3, 1.0)
    with pytest.raises(ConfigError, match=r"params\[1\]: expected a Parameter \(Tensor\), got str"):
        clip_grad_norm([p, "w"], 1.0)
    with pytest.raises(
        ConfigError, match=r"params\[0\]: expected a Parameter \(Tensor\), got ndarr"
    ):
        clip_grad_value([np.zeros(2)], 1.0)
    for bad in (0, -0.5, "1", None):
        with pytest.raises(ConfigError, match=r"clip_value: expected a number > 0"):
            clip_grad_value([p], bad)
    np.testing.assert_array_equal(p.grad.data, [3.0, 4.0])
