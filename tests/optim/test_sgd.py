"""SGD: the plain step, a step worked out by hand, PyTorch parity, convergence, bad arguments."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError, ShapeError
from deltaprop.optim import SGD, Optimizer, get_optimizer


def _param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype), dtype=dtype)


# --- the plain step ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_step_is_w_minus_lr_g_exactly(dtype):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((5, 3)).astype(dtype)
    g = rng.standard_normal((5, 3)).astype(dtype)
    p = nn.Parameter(w0.copy(), dtype=dtype)
    p.grad = dp.Tensor(g, dtype=dtype)
    data_before = p.data
    SGD([p], lr=0.3).step()
    assert p.data is data_before  # updated in place: views and optimizer state stay valid
    assert p.data.dtype == dtype
    np.testing.assert_array_equal(p.data, w0 - dtype(0.3) * g)


def test_params_without_grad_are_skipped_and_zero_grad_sets_none():
    a, b = _param([1.0, 2.0]), _param([3.0])
    a.grad = dp.Tensor(np.array([1.0, 1.0]), dtype="float64")
    opt = SGD([a, b], lr=0.5)
    opt.step()
    np.testing.assert_array_equal(a.data, [0.5, 1.5])
    np.testing.assert_array_equal(b.data, [3.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_one_step_on_a_2_2_1_net_worked_out_by_hand():
    # x = [1, 2], target t = 1; Linear(2,2) -> ReLU -> Linear(2,1); MSE; lr = 0.1.
    # W1 = [[0.1, 0.2], [0.3, 0.4]] (in x out), b1 = [0, -1.5]
    #   pre = x @ W1 + b1 = [0.1 + 0.6, 0.2 + 0.8] + b1 = [0.7, -0.5];  h = relu = [0.7, 0]
    # W2 = [[0.5], [-0.6]], b2 = [0.1]
    #   y = 0.7 * 0.5 + 0 * (-0.6) + 0.1 = 0.45;  L = (0.45 - 1)^2 = 0.3025
    # dL/dy = 2 (y - t) = -1.1
    #   dW2 = h^T dy = [[0.7 * -1.1], [0 * -1.1]] = [[-0.77], [0]];  db2 = [-1.1]
    #   dh = dy W2^T = [-0.55, 0.66];  relu mask [1, 0] -> dpre = [-0.55, 0]
    #   dW1 = x^T dpre = [[-0.55, 0], [-1.1, 0]];  db1 = [-0.55, 0]
    # After W <- W - 0.1 dW:
    #   W1 = [[0.155, 0.2], [0.41, 0.4]], b1 = [0.055, -1.5], W2 = [[0.577], [-0.6]], b2 = [0.21]
    model = nn.Sequential(
        nn.Linear(2, 2, dtype="float64"), nn.ReLU(), nn.Linear(2, 1, dtype="float64")
    )
    model[0].weight.data[...] = [[0.1, 0.2], [0.3, 0.4]]
    model[0].bias.data[...] = [0.0, -1.5]
    model[2].weight.data[...] = [[0.5], [-0.6]]
    model[2].bias.data[...] = [0.1]
    opt = SGD(model.parameters(), lr=0.1)
    x = dp.tensor(np.array([[1.0, 2.0]]), dtype="float64")
    loss = nn.MSELoss()(model(x), np.array([[1.0]]))
    assert float(loss.data) == pytest.approx(0.3025, abs=1e-15)
    opt.zero_grad()
    loss.backward()
    np.testing.assert_allclose(model[2].weight.grad.data, [[-0.77], [0.0]], atol=1e-15)
    np.testing.assert_allclose(model[0].weight.grad.data, [[-0.55, 0.0], [-1.1, 0.0]], atol=1e-15)
    opt.step()
    np.testing.assert_allclose(model[0].weight.data, [[0.155, 0.2], [0.41, 0.4]], atol=1e-15)
    np.testing.assert_allclose(model[0].bias.data, [0.055, -1.5], atol=1e-15)
    np.testing.assert_allclose(model[2].weight.data, [[0.577], [-0.6]], atol=1e-15)
    np.testing.assert_allclose(model[2].bias.data, [0.21], atol=1e-15)


# --- parity with torch.optim.SGD -----------------------------------------------------------------

PARITY_CASES = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "dampening": 0.5},
    {"weight_decay": 0.05},
    {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
]


def _grad_fn(w: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The gradient of a non-quadratic function, so trajectories depend on every detail."""
    return A @ w - b + np.sin(w)


@pytest.mark.parametrize("options", PARITY_CASES, ids=lambda o: ",".join(o) or "plain")
def test_trajectory_matches_torch_over_60_steps(options):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    A = A @ A.T / 4 + np.eye(4)
    b = rng.standard_normal(4)
    w0, v0 = rng.standard_normal(4), rng.standard_normal(3)

    ours = [_param(w0), _param(v0)]
    theirs = [torch.tensor(w0, requires_grad=True), torch.tensor(v0, requires_grad=True)]
    opt = SGD([{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.02}], lr=0.05, **options)
    topt = torch.optim.SGD(
        [{"params": [theirs[0]]}, {"params": [theirs[1]], "lr": 0.02}], lr=0.05, **options
    )
    for step in range(60):
        for p, t in zip(ours, theirs):
            skip = p is ours[1] and step % 7 == 3  # a step without a gradient is skipped
            if skip:
                p.grad, t.grad = None, None
                continue
            m = A if p is ours[0] else A[:3, :3]
            c = b if p is ours[0] else b[:3]
            g = _grad_fn(p.data, m, c)
            p.grad = dp.Tensor(g, dtype="float64")
            t.grad = torch.tensor(_grad_fn(t.detach().numpy(), m, c))
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    if options.get("momentum"):
        tbuf = topt.state[theirs[0]]["momentum_buffer"].numpy()
        np.testing.assert_allclose(
            opt.state[ours[0]]["momentum_buffer"], tbuf, rtol=1e-12, atol=1e-12
        )


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    t = torch.optim.SGD([torch.zeros(1, requires_grad=True)]).defaults
    ours = SGD([_param([0.0])]).defaults
    for key in ("lr", "momentum", "dampening", "nesterov", "weight_decay"):
        assert ours[key] == t[key], key


# --- convergence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}])
def test_converges_on_a_parabola(options):
    c = np.array([3.0, -2.0, 0.5])
    p = _param(np.zeros(3))
    opt = SGD([p], lr=0.1, **options)
    for _ in range(500):
        opt.zero_grad()
        ((p - c) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.data, c, atol=1e-6)


@pytest.mark.parametrize("options", [{"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}])
def test_converges_on_rosenbrock(options):
    p = _param([-1.5, 2.0])
    opt = SGD([p], lr=1e-3, **options)
    for _ in range(4000):
        opt.zero_grad()
        x, y = p[0], p[1]
        f = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        f.backward()
        opt.step()
    np.testing.assert_allclose(p.data, [1.0, 1.0], atol=1e-4)


# --- groups and state ----------------------------------------------------------------------------


def test_param_groups_take_defaults_and_their_own_lr():
    a, b = _param([1.0]), _param([1.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    a.grad = dp.Tensor(np.array([1.0]), dtype="float64")
    b.grad = dp.Tensor(np.array([1.0]), dtype="float64")
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    opt.param_groups[1]["lr"] = 0.25  # what a schedule does between steps
    opt.step()
    np.testing.assert_allclose(b.data[0], 0.5 - 0.25 * 1.9)


def test_state_dict_round_trip_is_json_able_and_resumes_identically():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(4)
    p, q = _param(w0), _param(w0)
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(5):
        p.grad = dp.Tensor(np.sin(p.data), dtype="float64")
        opt.step()
    sd = opt.state_dict()
    json.dumps(sd["param_groups"])  # hyperparameters are plain values
    assert sd["param_groups"][0]["params"] == [0]
    assert isinstance(sd["state"][0]["momentum_buffer"], np.ndarray)
    # JSON turns int keys into strings; loading accepts both.
    sd_json = {"state": {"0": sd["state"][0]}, "param_groups": sd["param_groups"]}
    q.data[...] = p.data
    opt2 = SGD([q], lr=0.5)
    opt2.load_state_dict(sd_json)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["nesterov"] is True
    assert opt2.state[q]["momentum_buffer"] is not opt.state[p]["momentum_buffer"]
    for _ in range(5):
        for t, o in ((p, opt), (q, opt2)):
            t.grad = dp.Tensor(np.sin(t.data), dtype="float64")
            o.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_failed_load_state_dict_changes_nothing():
    p = _param([1.0, 2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = dp.Tensor(np.ones(2), dtype="float64")
    opt.step()
    before = opt.state_dict()
    bad_shape = {
        "state": {0: {"momentum_buffer": np.zeros(3)}},
        "param_groups": [dict(before["param_groups"][0], lr=0.7)],
    }
    with pytest.raises(ShapeError, match=r"momentum_buffer.*expected shape \(2,\)"):
        opt.load_state_dict(bad_shape)
    with pytest.raises(ConfigError, match="1 parameter group"):
        opt.load_state_dict({"state": {}, "param_groups": before["param_groups"] * 2})
    with pytest.raises(ConfigError, match="lr: expected a finite number >= 0"):
        opt.load_state_dict({"state": {}, "param_groups": [dict(before["param_groups"][0], lr=-1)]})
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(
        after["state"][0]["momentum_buffer"], before["state"][0]["momentum_buffer"]
    )


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        ([], "params: expected at least one parameter, got an empty list"),
        ([_param([1.0]), "w"], r"params\[1\]: expected a Parameter, got str"),
        ([_param([1.0]), np.zeros(2)], r"params\[1\]: expected a Parameter, got ndarray"),
        (_param([1.0]), "single Tensor"),
        (3, "expected an iterable"),
        ([{"params": []}], "expected at least one parameter"),
        ([{"lr": 0.1}], "needs a 'params' entry"),
        ([{"params": [_param([1.0])], "betas": (0.9, 0.99)}], r"unknown option\(s\) \['betas'\]"),
    ],
)
def test_bad_params_raise_config_error(params, match):
    with pytest.raises(ConfigError, match=match):
        SGD(params, lr=0.1)


def test_a_parameter_listed_twice_is_an_error():
    p = _param([1.0])
    with pytest.raises(ConfigError, match="more than once"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ConfigError, match="more than once"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


@pytest.mark.parametrize("lr", [0, 0.0, -0.1, float("nan"), "0.1", None, True])
def test_bad_lr(lr):
    with pytest.raises(ConfigError, match=r"lr: expected a finite number > 0, got "):
        SGD([_param([1.0])], lr=lr)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"momentum": -0.1}, "momentum: expected a finite number >= 0"),
        ({"dampening": -1}, "dampening: expected a finite number >= 0"),
        ({"weight_decay": -1e-4}, "weight_decay: expected a finite number >= 0"),
        ({"nesterov": True}, "nesterov: needs momentum > 0 and dampening == 0"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov: needs"),
        ({"nesterov": "yes", "momentum": 0.9}, "nesterov: expected True or False"),
    ],
)
def test_bad_hyperparameters(options, match):
    with pytest.raises(ConfigError, match=match):
        SGD([_param([1.0])], lr=0.1, **options)


def test_group_errors_name_the_group():
    with pytest.raises(ConfigError, match=r"params\[1\]: lr: expected a finite number > 0"):
        SGD([{"params": [_param([1.0])]}, {"params": [_param([1.0])], "lr": -1}], lr=0.1)


def test_get_optimizer():
    p = _param([1.0])
    opt = get_optimizer("SGD", [p], lr=0.2, momentum=0.5)
    assert isinstance(opt, SGD) and isinstance(opt, Optimizer)
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[0]["momentum"] == 0.5
    with pytest.raises(
        ConfigError, match=r"optimizer: unknown name 'lbfgs'; expected one of \(.*'sgd'.*\)"
    ):
        get_optimizer("lbfgs", [p], lr=0.1)
    with pytest.raises(ConfigError, match=r"sgd: unknown option\(s\) \['betas'\]"):
        get_optimizer("sgd", [p], lr=0.1, betas=(0.9, 0.999))


def test_state_with_lr_annealed_to_zero_can_be_restored():
    # A cosine schedule with eta_min=0 ends at lr == 0; its checkpoint must load again.
    from deltaprop import nn as _nn
    from deltaprop.optim import SGD as _SGD

    model = _nn.Linear(2, 1)
    opt = _SGD(model.parameters(), lr=0.1)
    opt.param_groups[0]["lr"] = 0.0
    fresh = _SGD(model.parameters(), lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.0
