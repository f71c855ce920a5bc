"""BatchNorm1d and LayerNorm layers: buffers, train/eval, options, PyTorch parity over a few SGD
steps, model files, and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError, ShapeError

RNG = np.random.default_rng(0)


def batch(*shape, offset=0.0):
    return dp.tensor(offset + RNG.standard_normal(shape), dtype=np.float64)


# --- structure ---------------------------------------------------------------------------------


def test_batchnorm_defaults_parameters_and_buffers():
    bn = nn.BatchNorm1d(3)
    assert bn.weight.dtype == np.float32 and np.all(bn.weight.numpy() == 1)
    assert np.all(bn.bias.numpy() == 0)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert np.all(bn.running_mean.numpy() == 0) and np.all(bn.running_var.numpy() == 1)
    assert bn.running_mean.dtype == np.float32
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.dtype == np.int64
    assert not bn.running_mean.requires_grad
    names = list(bn.state_dict())
    assert names == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    ids = {id(p) for p in bn.parameters()}
    assert all(id(b) not in ids for _, b in bn.named_buffers())
    assert "BatchNorm1d" in nn.LAYERS and "LayerNorm" in nn.LAYERS


def test_batchnorm_options_change_what_is_registered():
    bn = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert bn.weight is None and bn.bias is None and bn.running_mean is None
    assert bn.parameters() == [] and list(bn.state_dict()) == []
    bn = nn.BatchNorm1d(4, affine=False)
    assert list(bn.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    for kwargs in ({}, {"affine": False}, {"track_running_stats": False}):
        assert list(nn.BatchNorm1d(3, **kwargs).state_dict()) == list(
            torch.nn.BatchNorm1d(3, **kwargs).state_dict()
        )
    assert list(nn.LayerNorm((2, 3)).state_dict()) == list(torch.nn.LayerNorm((2, 3)).state_dict())


def test_train_eval_switching():
    bn = nn.BatchNorm1d(2, momentum=0.5, dtype="float64")
    x = batch(6, 2, offset=3.0)
    y = bn(x).numpy()
    assert np.allclose(y.mean(axis=0), 0) and np.allclose(y.var(axis=0), 1, atol=1e-4)
    assert int(bn.num_batches_tracked.numpy()) == 1
    mean = x.numpy().mean(0)
    assert np.allclose(bn.running_mean.numpy(), 0.5 * mean)
    assert np.allclose(bn.running_var.numpy(), 0.5 + 0.5 * x.numpy().var(0, ddof=1))
    state = bn.state_dict()
    bn.eval()
    y_eval = bn(x).numpy()
    expected = (x.numpy() - state["running_mean"]) / np.sqrt(state["running_var"] + 1e-5)
    assert np.allclose(y_eval, expected)
    for k, v in bn.state_dict().items():  # eval changes no buffer
        assert np.array_equal(v, state[k]), k
    bn(batch(1, 2))  # one sample is fine in eval mode
    bn.train()
    bn(x)
    assert int(bn.num_batches_tracked.numpy()) == 2


def test_without_running_stats_batch_statistics_are_used_in_eval_too():
    bn = nn.BatchNorm1d(3, track_running_stats=False, dtype="float64")
    x = batch(5, 3, offset=2.0)
    y_train = bn(x).numpy()
    bn.eval()
    assert np.allclose(bn(x).numpy(), y_train)
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        bn(batch(1, 3))


def test_batch_of_one_is_refused_in_training_and_changes_nothing():
    bn = nn.BatchNorm1d(3)
    before = bn.state_dict()
    with pytest.raises(ShapeError, match="expected more than 1 value per channel when training"):
        bn(np.ones((1, 3), np.float32))
    for k, v in bn.state_dict().items():
        assert np.array_equal(v, before[k]), k
    assert bn(np.ones((1, 3, 4), np.float32)).shape == (1, 3, 4)  # L > 1 values: fine
    with pytest.raises(ShapeError, match="BatchNorm1d"):
        bn(np.ones((4, 2), np.float32))
    with pytest.raises(ShapeError, match="BatchNorm1d"):
        bn(np.ones((4,), np.float32))


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype="float64")
    xs = [batch(4, 2, offset=i) for i in range(3)]
    for x in xs:
        bn(x)
    means = [x.numpy().mean(0) for x in xs]
    assert np.allclose(bn.running_mean.numpy(), np.mean(means, axis=0))


def test_layernorm_structure_and_values():
    ln = nn.LayerNorm(4)
    assert ln.normalized_shape == (4,) and ln.weight.shape == (4,) and ln.bias.shape == (4,)
    assert list(ln.state_dict()) == ["weight", "bias"]
    x = batch(3, 4, offset=5.0)
    y = ln(x).numpy()
    assert np.allclose(y.mean(-1), 0, atol=1e-5) and np.allclose(y.var(-1), 1, atol=1e-3)
    ln.eval()
    assert np.allclose(ln(x).numpy(), y)
    assert nn.LayerNorm([2, 3]).weight.shape == (2, 3)
    bare = nn.LayerNorm(4, elementwise_affine=False)
    assert bare.parameters() == [] and bare.weight is None and bare.bias is None
    assert nn.LayerNorm(4, bias=False).bias is None


def test_get_config_rebuilds_the_layer():
    for layer in (
        nn.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False, dtype="float64"),
        nn.BatchNorm1d(2, momentum=0.25, track_running_stats=False),
        nn.LayerNorm((2, 3), eps=1e-6, elementwise_affine=True, bias=False),
    ):
        config = layer.get_config()
        again = type(layer)(**config)
        assert again.get_config() == config
        assert list(again.state_dict()) == list(layer.state_dict())
        assert repr(layer)


# --- bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_features": 0}, "num_features"),
        ({"num_features": -2}, "num_features"),
        ({"num_features": 2.5}, "num_features"),
        ({"num_features": True}, "num_features"),
        ({"num_features": 3, "momentum": -0.1}, "momentum"),
        ({"num_features": 3, "momentum": 1.5}, "momentum"),
        ({"num_features": 3, "momentum": "0.1"}, "momentum"),
        ({"num_features": 3, "eps": 0}, "eps"),
        ({"num_features": 3, "eps": -1e-5}, "eps"),
        ({"num_features": 3, "eps": None}, "eps"),
        ({"num_features": 3, "affine": "yes"}, "affine"),
        ({"num_features": 3, "track_running_stats": 1}, "track_running_stats"),
        ({"num_features": 3, "dtype": "int32"}, "dtype"),
    ],
)
def test_batchnorm_bad_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        nn.BatchNorm1d(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"normalized_shape": 0}, "normalized_shape"),
        ({"normalized_shape": ()}, "normalized_shape"),
        ({"normalized_shape": (3, -1)}, "normalized_shape"),
        ({"normalized_shape": "4"}, "normalized_shape"),
        ({"normalized_shape": 4, "eps": 0.0}, "eps"),
        ({"normalized_shape": 4, "elementwise_affine": None}, "elementwise_affine"),
    ],
)
def test_layernorm_bad_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        nn.LayerNorm(**kwargs)


# --- PyTorch parity: a few SGD steps ------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def copy_linear(layer, t_layer, torch):
    with torch.no_grad():
        t_layer.weight.copy_(torch.from_numpy(layer.weight.numpy().T))
        t_layer.bias.copy_(torch.from_numpy(layer.bias.numpy()))


def check_same(model, t_model, what):
    """Parameters and buffers equal torch's (Linear weights are stored transposed)."""
    t_state = {k: v.detach().numpy() for k, v in t_model.state_dict().items()}
    linear = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    for k, v in model.state_dict().items():
        ref = (
            t_state[k].T if k.rpartition(".")[0] in linear and k.endswith("weight") else t_state[k]
        )
        np.testing.assert_allclose(v, ref, rtol=1e-9, atol=1e-12, err_msg=f"{what}: {k}")


BN_OPTIONS = [
    {},
    {"momentum": 0.5, "eps": 1e-3},
    {"momentum": None},
    {"affine": False},
    {"track_running_stats": False},
    {"momentum": 1.0, "affine": False, "eps": 0.1},
]


@pytest.mark.parametrize("options", BN_OPTIONS, ids=str)
def test_batchnorm_trains_like_torch(options, torch):
    """Linear -> BatchNorm1d -> tanh -> Linear, four SGD steps on an MSE loss, then eval."""
    gen = np.random.default_rng(1)
    model = nn.Sequential(
        nn.Linear(4, 3, dtype="float64", generator=gen),
        nn.BatchNorm1d(3, dtype="float64", **options),
        nn.Tanh(),
        nn.Linear(3, 2, dtype="float64", generator=gen),
    )
    t_model = torch.nn.Sequential(
        torch.nn.Linear(4, 3),
        torch.nn.BatchNorm1d(3, **options),
        torch.nn.Tanh(),
        torch.nn.Linear(3, 2),
    ).double()
    copy_linear(model[0], t_model[0], torch)
    copy_linear(model[3], t_model[3], torch)
    opt = optim.SGD(model.parameters(), lr=0.1)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.1)
    loss_fn, t_loss_fn = nn.MSELoss(), torch.nn.MSELoss()
    for step in range(4):
        x = RNG.standard_normal((8, 4)) + step
        target = RNG.standard_normal((8, 2))
        opt.zero_grad()
        t_opt.zero_grad()
        loss = loss_fn(model(dp.tensor(x, dtype=np.float64)), dp.tensor(target, dtype=np.float64))
        t_loss = t_loss_fn(t_model(torch.from_numpy(x)), torch.from_numpy(target))
        assert abs(loss.item() - t_loss.item()) < 1e-12
        loss.backward()
        t_loss.backward()
        opt.step()
        t_opt.step()
        check_same(model, t_model, f"step {step}")
    model.eval()
    t_model.eval()
    x = RNG.standard_normal((5, 4))
    np.testing.assert_allclose(
        model(dp.tensor(x, dtype=np.float64)).numpy(),
        t_model(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("options", BN_OPTIONS[:3], ids=str)
def test_batchnorm_on_sequences_trains_like_torch(options, torch):
    """(N, C, L) input straight into BatchNorm1d; the loss pulls the output to a target."""
    bn = nn.BatchNorm1d(3, dtype="float64", **options)
    t_bn = torch.nn.BatchNorm1d(3, **options).double()
    opt = optim.SGD(bn.parameters(), lr=0.5)
    t_opt = torch.optim.SGD(t_bn.parameters(), lr=0.5)
    for step in range(3):
        x = RNG.standard_normal((4, 3, 5)) * (step + 1) + step
        target = RNG.standard_normal((4, 3, 5))
        opt.zero_grad()
        t_opt.zero_grad()
        loss = nn.MSELoss()(bn(dp.tensor(x, dtype=np.float64)), dp.tensor(target, dtype=np.float64))
        t_loss = torch.nn.MSELoss()(t_bn(torch.from_numpy(x)), torch.from_numpy(target))
        loss.backward()
        t_loss.backward()
        opt.step()
        t_opt.step()
        check_same(bn, t_bn, f"step {step}")
    bn.eval()
    t_bn.eval()
    x = RNG.standard_normal((2, 3, 5))
    np.testing.assert_allclose(
        bn(dp.tensor(x, dtype=np.float64)).numpy(),
        t_bn(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "shape, options",
    [
        ((6, 4), {}),
        ((2, 3, 4), {"eps": 1e-3}),
        ((2, 2, 3), {"normalized_shape": (2, 3)}),
        ((5, 4), {"bias": False}),
        ((5, 4), {"elementwise_affine": False}),
    ],
    ids=str,
)
def test_layernorm_trains_like_torch(shape, options, torch):
    options = dict(options)
    ns = options.pop("normalized_shape", shape[-1])
    gen = np.random.default_rng(2)
    lin = nn.Linear(shape[-1], shape[-1], dtype="float64", generator=gen)
    ln = nn.LayerNorm(ns, dtype="float64", **options)
    t_lin = torch.nn.Linear(shape[-1], shape[-1]).double()
    t_ln = torch.nn.LayerNorm(ns, **options).double()
    copy_linear(lin, t_lin, torch)
    params = lin.parameters() + ln.parameters()
    t_params = list(t_lin.parameters()) + list(t_ln.parameters())
    opt, t_opt = optim.SGD(params, lr=0.2), torch.optim.SGD(t_params, lr=0.2)
    for step in range(3):
        x = RNG.standard_normal(shape) + step
        target = RNG.standard_normal(shape)
        opt.zero_grad()
        t_opt.zero_grad()
        out = ln(lin(dp.tensor(x, dtype=np.float64)))
        t_out = t_ln(t_lin(torch.from_numpy(x)))
        loss = nn.MSELoss()(out, dp.tensor(target, dtype=np.float64))
        t_loss = torch.nn.MSELoss()(t_out, torch.from_numpy(target))
        loss.backward()
        t_loss.backward()
        opt.step()
        t_opt.step()
        check_same(lin, t_lin, f"step {step}")
        check_same(ln, t_ln, f"step {step}")


# --- model files -------------------------------------------------------------------------------


def trained_model(**bn_options):
    dp.seed(3)
    model = nn.Sequential(
        nn.Linear(4, 6),
        nn.BatchNorm1d(6, momentum=0.3, **bn_options),
        nn.ReLU(),
        nn.Linear(6, 6),
        nn.LayerNorm(6, eps=1e-4),
        nn.Linear(6, 2),
    )
    opt = optim.SGD(model.parameters(), lr=0.05)
    for step in range(3):
        x = RNG.standard_normal((10, 4)).astype(np.float32) + step
        opt.zero_grad()
        nn.MSELoss()(model(x), np.zeros((10, 2), np.float32)).backward()
        opt.step()
    return model


def check_round_trip(model, path):
    dp.save(model, path)
    loaded = dp.load(path)
    assert not loaded.training  # load gives eval mode
    saved = model.state_dict()
    state = loaded.state_dict()
    assert list(state) == list(saved)
    for k, v in saved.items():
        assert state[k].shape == v.shape and state[k].dtype == v.dtype, k
        assert np.array_equal(state[k], v), k
    model.eval()
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    assert np.array_equal(loaded(x).numpy(), model(x).numpy())
    assert repr(loaded) == repr(model)


def test_save_load_round_trip_without_scalar_buffers(tmp_path):
    check_round_trip(trained_model(track_running_stats=False), tmp_path / "m.safetensors")


def test_save_load_round_trip_with_running_stats(tmp_path):
    model = trained_model()
    assert int(model[1].num_batches_tracked.numpy()) == 3
    check_round_trip(model, tmp_path / "m.safetensors")
    assert int(dp.load(tmp_path / "m.safetensors")[1].num_batches_tracked.numpy()) == 3


def test_state_dict_round_trip_in_memory():
    model = trained_model()
    fresh = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 6), nn.LayerNorm(6),
        nn.Linear(6, 2),
    )  # fmt: skip
    fresh.load_state_dict(model.state_dict())
    assert int(fresh[1].num_batches_tracked.numpy()) == 3
    assert np.array_equal(fresh[1].running_var.numpy(), model[1].running_var.numpy())
