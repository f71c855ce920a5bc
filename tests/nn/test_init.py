"""Initializers: shapes, in-place fills, statistics against the formulas, seeding, names."""

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import backend, nn
from deltaprop.errors import ConfigError, ShapeError
from deltaprop.nn import init

FAN_IN, FAN_OUT = 300, 500  # a (in, out) weight, as deltaprop's Linear stores it
SHAPE = (FAN_IN, FAN_OUT)
N = FAN_IN * FAN_OUT

# (initializer, kwargs, expected variance, uniform bound or None for a normal)
CASES = [
    ("xavier_uniform", {}, 2 / (FAN_IN + FAN_OUT), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (
        "xavier_uniform",
        {"gain": 2.0},
        8 / (FAN_IN + FAN_OUT),
        2 * math.sqrt(6 / (FAN_IN + FAN_OUT)),
    ),  # noqa: E501
    ("xavier_normal", {}, 2 / (FAN_IN + FAN_OUT), None),
    ("xavier_normal", {"gain": 0.5}, 0.5 / (FAN_IN + FAN_OUT), None),
    ("he_uniform", {}, 2 / FAN_IN, math.sqrt(6 / FAN_IN)),
    ("he_uniform", {"mode": "fan_out"}, 2 / FAN_OUT, math.sqrt(6 / FAN_OUT)),
    ("he_normal", {}, 2 / FAN_IN, None),
    ("he_normal", {"a": 0.2, "nonlinearity": "leaky_relu"}, 2 / 1.04 / FAN_IN, None),
    ("he_normal", {"nonlinearity": "tanh"}, (25 / 9) / FAN_IN, None),
    ("lecun_uniform", {}, 1 / FAN_IN, math.sqrt(3 / FAN_IN)),
    ("lecun_normal", {}, 1 / FAN_IN, None),
    ("torch_default", {}, 1 / (3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
    ("uniform", {"a": -2.0, "b": 4.0}, 36 / 12, None),
    ("normal", {"mean": 0.0, "std": 0.3}, 0.09, None),
]


@pytest.mark.parametrize(("name", "kwargs", "var", "bound"), CASES)
def test_statistics_match_the_formula(name, kwargs, var, bound):
    w = getattr(init, name)(SHAPE, generator=np.random.default_rng(1), **kwargs)
    assert w.shape == SHAPE and w.dtype == np.float32
    w = w.astype(np.float64)
    mean = kwargs.get("mean", (kwargs["a"] + kwargs["b"]) / 2 if name == "uniform" else 0.0)
    assert abs(w.mean() - mean) < 5 * math.sqrt(var / N)
    assert w.var() == pytest.approx(var, rel=0.02)  # sampling error of the variance ~0.4%
    if bound is not None:
        assert -bound <= w.min() and w.max() <= bound
        assert w.max() > 0.99 * bound and w.min() < -0.99 * bound


def test_uniform_and_normal_ranges():
    w = init.uniform((1000,), 2.0, 3.0, generator=np.random.default_rng(0))
    assert w.min() >= 2.0 and w.max() < 3.0
    w = init.normal((20000,), mean=5.0, std=0.1, generator=np.random.default_rng(0))
    assert w.mean() == pytest.approx(5.0, abs=0.005)
    with pytest.raises(ConfigError, match="a <= b"):
        init.uniform((2,), 1.0, 0.0)
    with pytest.raises(ConfigError, match="std"):
        init.normal((2,), std=-1.0)


def test_constants():
    assert np.array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(init.ones(4), np.ones(4))
    assert np.array_equal(init.constant((2,), 0.25), [0.25, 0.25])
    assert init.zeros((2,), dtype="float64").dtype == np.float64


def test_fills_parameters_and_arrays_in_place():
    p = nn.Parameter(np.zeros((4, 5)))
    data = p.data
    assert init.he_normal(p) is p
    assert p.data is data and np.any(data != 0)  # written into the same buffer
    a = np.zeros((3, 2), dtype=np.float64)
    assert init.xavier_uniform(a) is a and a.dtype == np.float64 and np.any(a != 0)
    init.constant(p, 3.0)
    assert np.all(p.numpy() == 3.0) and p.dtype == np.float32


def test_fans_for_linear_conv_and_bias_shapes():
    assert init.compute_fans((3, 7)) == (3, 7)  # (in_features, out_features)
    assert init.compute_fans((16, 3, 5, 5)) == (75, 400)  # (out_ch, in_ch, kh, kw)
    assert init.compute_fans((6,)) == (6, 6)
    with pytest.raises(ShapeError):
        init.compute_fans(())
    # explicit fans override the shape's (a bias initialized with its weight's fans)
    b = init.torch_default((10,), fans=(400, 10), generator=np.random.default_rng(0))
    assert np.abs(b).max() <= 1 / 20
    with pytest.raises(ShapeError, match="fan"):
        init.he_normal((0, 4))


def test_same_numbers_as_torch_for_transposed_shapes():
    torch = pytest.importorskip("torch")
    from torch.nn import init as tinit

    # torch stores (out, in); we store (in, out): same fans
    assert init.compute_fans((3, 7)) == tinit._calculate_fan_in_and_fan_out(torch.empty(7, 3))
    conv = torch.empty(16, 3, 5, 5)
    assert init.compute_fans(conv.shape) == tinit._calculate_fan_in_and_fan_out(conv)
    for nl in ["linear", "sigmoid", "tanh", "relu", "selu", "conv2d"]:
        assert init.calculate_gain(nl) == pytest.approx(tinit.calculate_gain(nl))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        tinit.calculate_gain("leaky_relu", 0.2)
    )
    # torch.nn.Linear's default weight bound is 1/sqrt(in): the same as torch_default
    torch.manual_seed(0)
    t = torch.nn.Linear(FAN_IN, 50).weight.detach().numpy()
    ours = init.torch_default((FAN_IN, 50), generator=np.random.default_rng(0))
    assert abs(t).max() <= 1 / math.sqrt(FAN_IN) + 1e-7
    assert abs(ours).max() == pytest.approx(abs(t).max(), rel=0.01)
    assert ours.var() == pytest.approx(t.var(), rel=0.05)


def test_reproducible_with_dp_seed_and_generators():
    dp.seed(3)
    a = init.he_normal((5, 4))
    dp.seed(3)
    b = init.he_normal((5, 4))
    assert np.array_equal(a, b)
    c = init.xavier_uniform((5, 4), generator=np.random.default_rng(7))
    d = init.xavier_uniform((5, 4), generator=np.random.default_rng(7))
    assert np.array_equal(c, d)


def test_never_touches_numpy_global_state_and_generator_leaves_dp_rng_alone():
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is what we check
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    dp.seed(5)
    init.normal((10,))
    init.he_uniform((3, 3))
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    dp.seed(5)
    expected = backend.rng().random()
    dp.seed(5)
    init.he_uniform((3, 3), generator=np.random.default_rng(0))
    assert backend.rng().random() == expected


@pytest.mark.parametrize(
    ("alias", "target"),
    [
        ("xavier", "xavier_uniform"), ("glorot", "xavier_uniform"),
        ("glorot_normal", "xavier_normal"), ("he", "he_normal"), ("kaiming", "he_normal"),
        ("Kaiming-Uniform", "he_uniform"), ("lecun", "lecun_normal"),
        ("default", "torch_default"), ("HE_NORMAL", "he_normal"), (" zeros ", "zeros"),
    ],
)  # fmt: skip
def test_aliases(alias, target):
    assert init.get_initializer(alias) is getattr(init, target)
    assert init.canonical_name(alias) == target


def test_every_listed_name_resolves_and_fills():
    assert nn.INITIALIZERS is init.INITIALIZERS
    for name in init.INITIALIZERS:
        out = init.initialize((4, 3), name, generator=np.random.default_rng(0))
        assert out.shape == (4, 3)


def test_bad_names_list_the_allowed_ones():
    with pytest.raises(ConfigError, match="xavier_uniform") as info:
        init.get_initializer("glorious")
    assert "'glorious'" in str(info.value) and "he_normal" in str(info.value)
    with pytest.raises(ConfigError):
        init.get_initializer(None)
    with pytest.raises(ConfigError, match="mode"):
        init.he_normal((2, 2), mode="fan_avg")
    with pytest.raises(ConfigError, match="nonlinearity"):
        init.he_normal((2, 2), nonlinearity="swish")
    with pytest.raises(ConfigError, match="target"):
        init.zeros("3x3")


def test_constant_by_name_in_linear():
    from deltaprop import nn as _nn

    layer = _nn.Linear(3, 2, init="constant:0.25")
    assert np.all(layer.weight.data == np.float32(0.25))
    assert np.all(layer.bias.data == 0)
    assert np.all(_nn.Linear(3, 2, init="constant").weight.data == 0)
    with pytest.raises(ConfigError, match="init"):
        _nn.Linear(3, 2, init="constant:abc")


def test_resolve_once_then_fill_like_initialize():
    fill = init.resolve("Kaiming", "init")
    a = fill((4, 3), fans=(4, 3), generator=np.random.default_rng(5))
    b = init.initialize((4, 3), "he_normal", fans=(4, 3), generator=np.random.default_rng(5))
    assert np.array_equal(a, b)
    # Names without fans ignore the fans a layer passes to every name.
    assert np.all(init.resolve("constant:2")((2,), fans=(1, 2)) == 2)
    with pytest.raises(ConfigError, match=r"^bias_init: unknown name 'he:2'"):
        init.resolve("he:2", "bias_init")
    with pytest.raises(ConfigError, match=r"^bias_init: expected 'constant:<number>'"):
        init.resolve("constant:x", "bias_init")


def test_layers_take_numpy_bools():
    layer = nn.Linear(2, 3, bias=np.bool_(False))
    assert layer.bias is None
    assert nn.BatchNorm1d(3, affine=np.bool_(True)).affine is True
