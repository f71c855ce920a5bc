"""Adam, AdamW, RMSprop, Adagrad: first steps by hand, convergence, groups, state, bad arguments.

Trajectory parity with torch.optim is in test_adaptive_parity.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn
from deltaprop.errors import ConfigError
from deltaprop.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer


def _param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype), dtype=dtype)


def _set_grad(p, values):
    p.grad = dp.Tensor(np.asarray(values, dtype=p.data.dtype), dtype=p.data.dtype)


# --- first steps worked out by hand --------------------------------------------------------------


def test_adam_first_step_is_lr_times_the_sign_of_g():
    # t = 1: m = (1 - b1) g, v = (1 - b2) g^2, so m / (1 - b1) = g and sqrt(v / (1 - b2)) = |g|:
    #   w = w - lr * g / (|g| + eps) ~ w - lr * sign(g), whatever the size of g.
    # w = [1, -2, 0.5], g = [0.5, -4, 1e-3], lr = 0.1 -> w = [0.9, -1.9, 0.4], up to a relative
    # eps / |g| (1e-5 for the last entry).
    w, g = np.array([1.0, -2.0, 0.5]), np.array([0.5, -4.0, 1e-3])
    p = _param(w)
    _set_grad(p, g)
    opt = Adam([p], lr=0.1)
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 0.4], rtol=0, atol=1e-5)
    np.testing.assert_allclose(p.data, w - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    s = opt.state[p]
    assert s["step"] == 1 and set(s) == {"step", "exp_avg", "exp_avg_sq"}
    np.testing.assert_allclose(s["exp_avg"], [0.05, -0.4, 1e-4], rtol=1e-12)
    np.testing.assert_allclose(s["exp_avg_sq"], [0.00025, 0.016, 1e-9], rtol=1e-9)
    # t = 2 with the same g: m / (1 - b1^2) = g and v / (1 - b2^2) = g^2 again: the same step.
    opt.step()
    np.testing.assert_allclose(p.data, w - 0.2 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_adamw_with_a_zero_gradient_only_shrinks_the_weights():
    # g = 0: m = v = 0, so the Adam part moves nothing (0 / eps); w = w (1 - lr lam).
    # w = [2, -4], lr = 0.1, lam = 0.5 -> w = [1.9, -3.8]. Adam's coupled decay instead feeds
    # lam w = [1, -2] into the moments and takes a full first step: w = [1.9, -3.9].
    p, q = _param([2.0, -4.0]), _param([2.0, -4.0])
    _set_grad(p, [0.0, 0.0])
    _set_grad(q, [0.0, 0.0])
    AdamW([p], lr=0.1, weight_decay=0.5).step()
    Adam([q], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, [1.9, -3.8], rtol=1e-15)
    np.testing.assert_allclose(q.data, [1.9, -3.9], rtol=1e-7)


def test_rmsprop_first_step_is_ten_lr_times_the_sign_of_g():
    # v = (1 - 0.99) g^2, sqrt(v) = 0.1 |g|: w = w - lr g / (0.1 |g|) = w - 10 lr sign(g).
    # Centered: a = 0.01 g, v - a^2 = 0.01 g^2 - 1e-4 g^2 = 0.0099 g^2 -> a slightly larger step.
    p, q = _param([1.0, -1.0]), _param([1.0, -1.0])
    _set_grad(p, [2.0, -0.5])
    _set_grad(q, [2.0, -0.5])
    RMSprop([p], lr=0.01).step()
    RMSprop([q], lr=0.01, centered=True).step()
    np.testing.assert_allclose(p.data, [0.9, -0.9], rtol=1e-7)
    np.testing.assert_allclose(q.data, [1 - 0.01 / 0.0099**0.5, -1 + 0.01 / 0.0099**0.5], rtol=1e-7)


def test_adagrad_steps_by_hand():
    # sum starts at 16; g = 3: sum = 25, w = 1 - lr * 3 / 5 = 1 - 0.6 lr; with lr = 0.5: 0.7.
    # Step 2 with lr_decay = 1: lr_2 = 0.5 / (1 + 1) = 0.25; g = 12: sum = 25 + 144 = 169,
    # w = 0.7 - 0.25 * 12 / 13. (eps = 0 keeps the numbers exact.)
    p = _param([1.0])
    opt = Adagrad([p], lr=0.5, lr_decay=1.0, initial_accumulator_value=16.0, eps=0.0)
    _set_grad(p, [3.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.7], rtol=1e-12)
    _set_grad(p, [12.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.7 - 0.25 * 12 / 13], rtol=1e-12)
    assert opt.state[p]["step"] == 2
    np.testing.assert_allclose(opt.state[p]["sum"], [169.0])


ALL = [
    (Adam, {}),
    (Adam, {"amsgrad": True, "weight_decay": 0.01}),
    (AdamW, {}),
    (RMSprop, {"centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    (RMSprop, {}),
    (Adagrad, {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
]


def _id(case):
    cls, options = case
    return cls.__name__ + ("[" + ",".join(options) + "]" if options else "")


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_float32_stays_float32_and_updates_in_place(case):
    cls, options = case
    p = _param(np.linspace(-1, 1, 6).reshape(2, 3), dtype=np.float32)
    data = p.data
    opt = cls([p], **options)
    for _ in range(3):
        _set_grad(p, np.cos(p.data))
        opt.step()
    assert p.data is data and p.data.dtype == np.float32
    for key, value in opt.state[p].items():
        if key != "step":
            assert value.dtype == np.float32 and value.shape == (2, 3), key


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_params_without_grad_are_skipped(case):
    cls, options = case
    a, b = _param([1.0, 2.0]), _param([3.0])
    opt = cls([a, b], **options)
    _set_grad(a, [1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])
    assert opt.state.get(b, {"step": 0})["step"] == 0
    assert opt.state[a]["step"] == 1


# --- convergence ---------------------------------------------------------------------------------

PARABOLA = [
    (Adam, {"lr": 0.05}, 1500, 1e-5),
    (Adam, {"lr": 0.05, "amsgrad": True}, 1500, 1e-5),
    (AdamW, {"lr": 0.05, "weight_decay": 0.0}, 1500, 1e-5),
    (RMSprop, {"lr": 0.01}, 1500, 1e-6),
    (RMSprop, {"lr": 0.003, "momentum": 0.9}, 1500, 1e-6),
    (RMSprop, {"lr": 0.01, "centered": True}, 1500, 1e-6),
    (Adagrad, {"lr": 0.5}, 1500, 1e-6),
]


@pytest.mark.parametrize(
    "cls, options, steps, atol", PARABOLA, ids=[_id((c, o)) for c, o, *_ in PARABOLA]
)
def test_converges_on_a_parabola(cls, options, steps, atol):
    # f(w) = sum(s (w - c)^2), scales s 100 apart: adaptive methods should not care.
    c = np.array([3.0, -2.0, 0.5])
    s = np.array([10.0, 1.0, 0.1])
    p = _param(np.zeros(3))
    opt = cls([p], **options)
    for _ in range(steps):
        opt.zero_grad()
        ((p - c) ** 2 * s).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.data, c, atol=atol)


def _rosenbrock_grad(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


# Constant-step adaptive methods stall in the curved valley at a distance set by lr (RMSprop
# without momentum) or by their ever-shrinking steps (Adagrad): their tolerance says so.
ROSENBROCK = [
    (Adam, {"lr": 0.02}, 3000, 1e-4),
    (Adam, {"lr": 0.1, "amsgrad": True}, 3000, 1e-4),
    (AdamW, {"lr": 0.02, "weight_decay": 1e-4}, 3000, 2e-3),
    (RMSprop, {"lr": 1e-3, "momentum": 0.9}, 3000, 1e-3),
    (RMSprop, {"lr": 1e-3, "centered": True}, 5000, 1e-2),
    (RMSprop, {"lr": 1e-3}, 5000, 0.1),
    (Adagrad, {"lr": 1.0}, 5000, 0.1),
]


@pytest.mark.parametrize(
    "cls, options, steps, atol", ROSENBROCK, ids=[_id((c, o)) for c, o, *_ in ROSENBROCK]
)
def test_converges_on_rosenbrock(cls, options, steps, atol):
    # f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2); the minimum is (1, 1).
    p = _param([-1.5, 2.0])
    opt = cls([p], **options)
    # The engine's gradient once (checked against the formula), then the formula for speed.
    x, y = p[0], p[1]
    ((1 - x) ** 2 + 100 * (y - x * x) ** 2).backward()
    np.testing.assert_allclose(p.grad.data, _rosenbrock_grad(p.data), rtol=1e-12)
    for _ in range(steps):
        opt.step()
        _set_grad(p, _rosenbrock_grad(p.data))
    np.testing.assert_allclose(p.data, [1.0, 1.0], atol=atol)
    x, y = p.data
    assert (1 - x) ** 2 + 100 * (y - x * x) ** 2 < atol**2 * 10


def test_centered_rmsprop_stays_finite_when_the_gradient_never_changes():
    # A constant g: after ~2000 steps a = g and v = g^2 to float32 precision, and rounding puts
    # v - a^2 below 0 for a few entries. torch.optim.RMSprop takes sqrt of it and its weights
    # turn NaN there; we clamp at 0.
    g = np.random.default_rng(0).standard_normal(200).astype(np.float32)
    p = _param(np.zeros(200), dtype=np.float32)
    opt = RMSprop([p], lr=1e-3, centered=True, momentum=0.9)
    for _ in range(2500):
        _set_grad(p, g)
        opt.step()
    s = opt.state[p]
    assert (s["square_avg"] - s["grad_avg"] ** 2 < 0).any()  # the case this test is about
    assert np.isfinite(p.data).all()


# --- groups and state ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_groups_with_their_own_lr_act_as_separate_optimizers(case):
    cls, options = case
    rng = np.random.default_rng(3)
    w0, v0 = rng.standard_normal(4), rng.standard_normal(3)
    a, b = _param(w0), _param(v0)
    a2, b2 = _param(w0), _param(v0)
    opt = cls([{"params": [a]}, {"params": [b], "lr": 0.003}], lr=0.02, **options)
    assert [g["lr"] for g in opt.param_groups] == [0.02, 0.003]
    alone = [cls([a2], lr=0.02, **options), cls([b2], lr=0.003, **options)]
    for _ in range(10):
        for p in (a, b, a2, b2):
            _set_grad(p, np.sin(3 * p.data) + p.data)
        opt.step()
        for o in alone:
            o.step()
    np.testing.assert_array_equal(a.data, a2.data)
    np.testing.assert_array_equal(b.data, b2.data)


@pytest.mark.parametrize("case", ALL, ids=_id)
def test_state_dict_round_trip_resumes_identically(case):
    cls, options = case
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64")
    )
    X = dp.tensor(rng.standard_normal((10, 3)), dtype="float64")
    y = rng.standard_normal((10, 2))

    def train(m, o, steps):
        for _ in range(steps):
            o.zero_grad()
            nn.MSELoss()(m(X), y).backward()
            o.step()

    opt = cls(model.parameters(), lr=0.01, **options)
    train(model, opt, 10)
    sd = opt.state_dict()
    # Hyperparameters survive JSON (betas come back as a list and are accepted).
    groups = json.loads(json.dumps(sd["param_groups"]))
    state = {str(i): s for i, s in sd["state"].items()}
    copy = nn.Sequential(
        nn.Linear(3, 4, dtype="float64"), nn.Tanh(), nn.Linear(4, 2, dtype="float64")
    )
    copy.load_state_dict(model.state_dict())
    opt2 = cls(copy.parameters(), lr=0.5)
    opt2.load_state_dict({"state": state, "param_groups": groups})
    assert opt2.param_groups[0] == {**opt.param_groups[0], "params": copy.parameters()}
    train(model, opt, 10)
    train(copy, opt2, 10)
    for p, q in zip(model.parameters(), copy.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        assert opt.state[p]["step"] == opt2.state[q]["step"] == 20


def test_adagrad_state_for_an_added_group():
    a, b = _param([1.0]), _param([2.0])
    opt = Adagrad([a], initial_accumulator_value=0.5)
    opt.add_param_group({"params": [b], "initial_accumulator_value": 2.0})
    np.testing.assert_array_equal(opt.state[b]["sum"], [2.0])
    _set_grad(b, [1.0])
    opt.step()
    np.testing.assert_allclose(b.data, [2.0 - 0.01 / 3**0.5])


def test_amsgrad_switched_on_later_keeps_working():
    p = _param([1.0, -1.0])
    opt = Adam([p], lr=0.1)
    _set_grad(p, [1.0, 2.0])
    opt.step()
    opt.param_groups[0]["amsgrad"] = True
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["max_exp_avg_sq"], opt.state[p]["exp_avg_sq"])


# --- bad arguments -------------------------------------------------------------------------------

BAD = [
    (Adam, {"lr": 0}, r"lr: expected a finite number > 0, got 0"),
    (Adam, {"lr": -1e-3}, r"lr: expected a finite number > 0"),
    (Adam, {"lr": "1e-3"}, r"lr: expected a finite number > 0"),
    (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\]: expected a number in \[0, 1\), got 1.0"),
    (Adam, {"betas": (0.9, 1.5)}, r"betas\[1\]: expected a number in \[0, 1\), got 1.5"),
    (Adam, {"betas": (-0.1, 0.9)}, r"betas\[0\]: expected a number in \[0, 1\)"),
    (Adam, {"betas": (0.9, None)}, r"betas\[1\]: expected a number"),
    (Adam, {"betas": 0.9}, r"betas: expected a pair \(beta1, beta2\)"),
    (Adam, {"betas": (0.9, 0.99, 0.999)}, r"betas: expected a pair"),
    (Adam, {"eps": -1e-8}, r"eps: expected a finite number >= 0, got -1e-08"),
    (Adam, {"eps": float("nan")}, r"eps: expected a finite number >= 0"),
    (Adam, {"weight_decay": -0.1}, r"weight_decay: expected a finite number >= 0"),
    (Adam, {"amsgrad": "yes"}, r"amsgrad: expected True or False, got 'yes'"),
    (AdamW, {"lr": -1}, r"lr: expected a finite number > 0"),
    (AdamW, {"betas": (0.9, 1.0)}, r"betas\[1\]: expected a number in \[0, 1\)"),
    (AdamW, {"weight_decay": -1e-2}, r"weight_decay: expected a finite number >= 0"),
    (AdamW, {"amsgrad": 1}, r"amsgrad: expected True or False"),
    (RMSprop, {"lr": 0.0}, r"lr: expected a finite number > 0"),
    (RMSprop, {"alpha": -0.1}, r"alpha: expected a number in \[0, 1\], got -0.1"),
    (RMSprop, {"alpha": 1.5}, r"alpha: expected a number in \[0, 1\], got 1.5"),
    (RMSprop, {"alpha": "0.9"}, r"alpha: expected a number in \[0, 1\]"),
    (RMSprop, {"eps": -1.0}, r"eps: expected a finite number >= 0"),
    (RMSprop, {"weight_decay": -1.0}, r"weight_decay: expected a finite number >= 0"),
    (RMSprop, {"momentum": -0.9}, r"momentum: expected a finite number >= 0"),
    (RMSprop, {"centered": 1}, r"centered: expected True or False"),
    (Adagrad, {"lr": None}, r"lr: expected a finite number > 0, got None"),
    (Adagrad, {"lr_decay": -0.1}, r"lr_decay: expected a finite number >= 0"),
    (Adagrad, {"weight_decay": -0.1}, r"weight_decay: expected a finite number >= 0"),
    (
        Adagrad,
        {"initial_accumulator_value": -1},
        r"initial_accumulator_value: expected a finite number >= 0",
    ),
    (Adagrad, {"eps": -1e-10}, r"eps: expected a finite number >= 0"),
]


@pytest.mark.parametrize(
    "cls, options, match", BAD, ids=[f"{c.__name__}-{next(iter(o))}" for c, o, _ in BAD]
)
def test_bad_hyperparameters_raise_config_error_naming_the_argument(cls, options, match):
    with pytest.raises(ConfigError, match=match):
        cls([_param([1.0])], **options)


@pytest.mark.parametrize("cls", [Adam, AdamW, RMSprop, Adagrad])
def test_bad_params_and_group_errors(cls):
    with pytest.raises(ConfigError, match="expected at least one parameter"):
        cls([])
    with pytest.raises(ConfigError, match=r"params\[1\]: expected a Parameter, got str"):
        cls([_param([1.0]), "w"])
    with pytest.raises(ConfigError, match=r"params\[1\]: lr: expected a finite number > 0"):
        cls([{"params": [_param([1.0])]}, {"params": [_param([1.0])], "lr": -1}])
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['nesterov'\]"):
        cls([{"params": [_param([1.0])], "nesterov": True}])


def test_group_errors_name_the_group_and_the_beta():
    with pytest.raises(ConfigError, match=r"params\[1\]: betas\[0\]: expected a number in"):
        Adam([{"params": [_param([1.0])]}, {"params": [_param([1.0])], "betas": (1.2, 0.9)}])


# --- by name -------------------------------------------------------------------------------------


def test_get_optimizer_names_and_aliases():
    p = _param([1.0])
    for name, cls in [("adam", Adam), ("AdamW", AdamW), ("rmsprop", RMSprop), ("adagrad", Adagrad)]:
        opt = get_optimizer(name, [_param([1.0])], lr=0.05)
        assert type(opt) is cls and isinstance(opt, Optimizer)
        assert opt.param_groups[0]["lr"] == 0.05
    # lr=None takes optim.default_lr(name) (1e-3 for Adam, as its class default).
    assert get_optimizer("adam", [p]).param_groups[0]["lr"] == 1e-3
    assert get_optimizer("adamw", [p], lr=0.1).param_groups[0]["weight_decay"] == 1e-2
    g = get_optimizer("momentum", [p], lr=0.1).param_groups[0]
    assert (g["momentum"], g["nesterov"]) == (0.9, False)
    g = get_optimizer("nesterov", [p], lr=0.1).param_groups[0]
    assert (g["momentum"], g["nesterov"]) == (0.9, True)
    g = get_optimizer("momentum", [p], lr=0.1, momentum=0.5).param_groups[0]
    assert g["momentum"] == 0.5
    assert type(get_optimizer("nesterov", [p], lr=0.1)) is SGD
    opt = get_optimizer("adam", [p], lr=0.01, betas=(0.8, 0.9), amsgrad=True)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["amsgrad"]


def test_get_optimizer_errors():
    p = _param([1.0])
    names = r"\('adagrad', 'adam', 'adamw', 'momentum', 'nesterov', 'rmsprop', 'sgd'\)"
    with pytest.raises(
        ConfigError, match=rf"optimizer: unknown name 'lbfgs'; expected one of {names}"
    ):
        get_optimizer("lbfgs", [p], lr=0.1)
    with pytest.raises(ConfigError, match=r"adam: unknown option\(s\) \['momentum'\]; Adam"):
        get_optimizer("adam", [p], lr=0.1, momentum=0.9)
    with pytest.raises(ConfigError, match=r"nesterov: unknown option\(s\) \['betas'\]"):
        get_optimizer("nesterov", [p], lr=0.1, betas=(0.9, 0.99))
    with pytest.raises(ConfigError, match=r"rmsprop: unknown option\(s\) \['amsgrad'\]"):
        get_optimizer("rmsprop", [p], lr=0.1, amsgrad=True)
