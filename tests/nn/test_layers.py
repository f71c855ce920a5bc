"""Layers: Linear, Flatten, Identity, activations, Dropout; PyTorch parity for Linear."""

import json
import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, ops
from deltaprop.errors import ConfigError

RNG = np.random.default_rng(0)


def test_linear_forward_is_x_at_w_plus_b():
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)
    layer.bias.data[:] = [0.5, -1.0, 2.0]
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    expected = x @ layer.weight.numpy() + layer.bias.numpy()
    assert np.allclose(layer(x).numpy(), expected, atol=1e-6)
    x3 = RNG.normal(size=(2, 5, 4)).astype(np.float32)  # any leading axes
    assert layer(x3).shape == (2, 5, 3)


def test_linear_backward_matches_the_formulas():
    layer = nn.Linear(3, 2, dtype="float64")
    x = dp.tensor(RNG.normal(size=(4, 3)), requires_grad=True, dtype=np.float64)
    g = RNG.normal(size=(4, 2))
    layer(x).backward(g)
    w = layer.weight.numpy()
    assert np.allclose(layer.weight.grad.numpy(), x.numpy().T @ g)
    assert np.allclose(layer.bias.grad.numpy(), g.sum(axis=0))
    assert np.allclose(x.grad.numpy(), g @ w.T)


def test_linear_without_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.ones((1, 3), dtype=np.float32)
    assert np.allclose(layer(x).numpy(), x @ layer.weight.numpy())
    assert layer.get_config()["bias"] is False


def test_linear_init_ones_gives_weights_one_and_biases_zero():
    layer = nn.Linear(3, 2, init="ones")
    assert np.all(layer.weight.numpy() == 1.0) and np.all(layer.bias.numpy() == 0.0)
    assert np.allclose(layer(np.ones((1, 3))).numpy(), [[3.0, 3.0]])
    layer = nn.Linear(3, 2, init="zeros", bias_init="ones")
    assert np.all(layer.weight.numpy() == 0.0) and np.all(layer.bias.numpy() == 1.0)


def test_linear_default_init_is_pytorchs_bound():
    layer = nn.Linear(400, 50, generator=np.random.default_rng(0))
    bound = 1 / math.sqrt(400)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert np.all(layer.bias.numpy() == 0)
    torch_like = nn.Linear(400, 50, bias_init="torch_default", generator=np.random.default_rng(0))
    b = torch_like.bias.numpy()  # biases use the weight's fan_in, as in PyTorch
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound


@pytest.mark.parametrize("name", nn.INITIALIZERS)
def test_linear_accepts_every_initializer_name(name):
    layer = nn.Linear(6, 5, init=name)
    assert layer.weight.shape == (6, 5) and np.all(np.isfinite(layer.weight.numpy()))
    assert layer.get_config()["init"] == name


def test_linear_initial_values_follow_seed_and_generator():
    dp.seed(11)
    a = nn.Linear(5, 4, init="he").weight.numpy()
    dp.seed(11)
    b = nn.Linear(5, 4, init="he").weight.numpy()
    assert np.array_equal(a, b)
    c = nn.Linear(5, 4, generator=np.random.default_rng(2)).weight.numpy()
    d = nn.Linear(5, 4, generator=np.random.default_rng(2)).weight.numpy()
    assert np.array_equal(c, d)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
@pytest.mark.parametrize("argument", ["in_features", "out_features"])
def test_linear_bad_sizes_name_the_argument(argument, bad):
    kwargs = {"in_features": 2, "out_features": 3, argument: bad}
    with pytest.raises(ConfigError, match=argument):
        nn.Linear(**kwargs)


def test_linear_bad_options():
    with pytest.raises(ConfigError, match=r"^init: unknown name 'gaussian'"):
        nn.Linear(2, 2, init="gaussian")
    with pytest.raises(ConfigError, match=r"^bias_init: .*xavier_uniform"):
        nn.Linear(2, 2, bias_init="nope")
    with pytest.raises(ConfigError, match="dtype"):
        nn.Linear(2, 2, dtype="int32")
    with pytest.raises(ConfigError, match="bias"):
        nn.Linear(2, 2, bias="yes")


def test_linear_dtype_and_config_round_trip():
    layer = nn.Linear(3, 2, init="xavier", dtype=np.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    config = layer.get_config()
    assert config == {
        "in_features": 3, "out_features": 2, "bias": True, "init": "xavier",
        "bias_init": "zeros", "dtype": "float64",
    }  # fmt: skip
    assert json.loads(json.dumps(config)) == config
    assert nn.Linear(**config).get_config() == config


def test_flatten_and_identity():
    x = dp.tensor(RNG.normal(size=(2, 3, 4, 5)), requires_grad=True)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(start_axis=2)(x).shape == (2, 3, 20)
    nn.Flatten()(x).sum().backward()
    assert x.grad.shape == (2, 3, 4, 5)
    assert nn.Flatten(2).get_config() == {"start_axis": 2}
    with pytest.raises(ConfigError, match="start_axis"):
        nn.Flatten(1.5)
    y = nn.Identity()(x)
    assert np.array_equal(y.numpy(), x.numpy())
    assert nn.Identity().parameters() == []


ACTIVATIONS = [
    (nn.ReLU(), ops.relu),
    (nn.LeakyReLU(), lambda x: ops.leaky_relu(x, 0.01)),
    (nn.LeakyReLU(0.2), lambda x: ops.leaky_relu(x, 0.2)),
    (nn.ELU(), ops.elu),
    (nn.ELU(alpha=0.5), lambda x: ops.elu(x, 0.5)),
    (nn.GELU(), ops.gelu),
    (nn.GELU("tanh"), lambda x: ops.gelu(x, "tanh")),
    (nn.Sigmoid(), ops.sigmoid),
    (nn.Tanh(), ops.tanh),
    (nn.Softmax(), ops.softmax),
    (nn.Softmax(axis=0), lambda x: ops.softmax(x, axis=0)),
    (nn.LogSoftmax(), ops.log_softmax),
]


@pytest.mark.parametrize(("module", "op"), ACTIVATIONS, ids=lambda v: repr(v)[:20])
def test_activation_modules_match_ops(module, op):
    x = dp.tensor(RNG.normal(size=(4, 5)) * 3, requires_grad=True)
    y = module(x)
    assert np.array_equal(y.numpy(), op(x).numpy())
    g = RNG.normal(size=(4, 5)).astype(np.float32)
    y.backward(g)
    x2 = dp.tensor(x.numpy(), requires_grad=True)
    op(x2).backward(g)
    assert np.array_equal(x.grad.numpy(), x2.grad.numpy())
    assert module.parameters() == []
    assert type(module)(**module.get_config()).get_config() == module.get_config()


def test_activation_options_are_checked():
    with pytest.raises(ConfigError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ConfigError, match="negative_slope"):
        nn.LeakyReLU("0.1")
    with pytest.raises(ConfigError, match="axis"):
        nn.Softmax(axis=1.0)


def test_get_activation():
    assert nn.ACTIVATIONS == ("relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh")
    for name in nn.ACTIVATIONS:
        a, b = nn.get_activation(name), nn.get_activation(name)
        assert isinstance(a, nn.Module) and a is not b  # a fresh module each time
    assert isinstance(nn.get_activation("ReLU"), nn.ReLU)
    assert isinstance(nn.get_activation("leaky-relu"), nn.LeakyReLU)
    module = nn.Tanh()
    assert nn.get_activation(module) is module
    with pytest.raises(ConfigError, match=r"'swish'.*relu.*tanh"):
        nn.get_activation("swish")


def test_dropout_is_identity_in_eval_mode():
    layer = nn.Dropout(0.5).eval()
    x = dp.tensor(RNG.normal(size=(10, 10)))
    assert np.array_equal(layer(x).numpy(), x.numpy())
    assert np.array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())


def test_dropout_training_drops_and_rescales():
    p = 0.3
    layer = nn.Dropout(p)
    x = np.ones((200, 500), dtype=np.float32)
    y = layer(x).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)
    assert np.allclose(y[kept], 1 / (1 - p))  # inverted dropout: survivors scaled up
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # ... so the mean is kept
    xt = dp.tensor(x, requires_grad=True)
    out = layer(xt)
    out.sum().backward()
    assert np.array_equal(xt.grad.numpy(), out.numpy())  # gradient is the same scaled mask


def test_dropout_follows_seed_and_model_mode():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    x = np.ones((8, 4), dtype=np.float32)
    dp.seed(1)
    a = model(x).numpy()
    dp.seed(1)
    b = model(x).numpy()
    assert np.array_equal(a, b)
    model.eval()
    assert np.array_equal(model(x).numpy(), model[0](x).numpy())


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "0.5", None])
def test_dropout_bad_p(bad):
    with pytest.raises(ConfigError, match="p: "):
        nn.Dropout(bad)


def test_linear_parity_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    ours = nn.Linear(5, 3, init="xavier", dtype="float64", generator=rng)
    ours.bias.data[:] = rng.normal(size=3)
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight.numpy().T))  # torch stores (out, in)
        ref.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    x = rng.normal(size=(7, 5))
    g = rng.normal(size=(7, 3))
    xd = dp.tensor(x, requires_grad=True, dtype=np.float64)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = ours(xd), ref(xt)
    assert np.allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    assert np.allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy().T, atol=1e-12)
    assert np.allclose(ours.bias.grad.numpy(), ref.bias.grad.numpy(), atol=1e-12)
    assert np.allclose(xd.grad.numpy(), xt.grad.numpy(), atol=1e-12)
