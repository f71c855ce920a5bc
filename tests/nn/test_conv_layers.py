"""Image layers: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d / GlobalAvgPool2d, BatchNorm2d.

Structure, initial values and fans, configs and state dicts, PyTorch parity of each layer and of
a small CNN over a few SGD steps, model files, and errors that name the layer.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import nn, optim
from deltaprop.errors import ConfigError, ShapeError

RNG = np.random.default_rng(0)
NEW = ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "GlobalAvgPool2d", "BatchNorm2d")


def images(*shape, dtype=np.float64):
    return dp.tensor(RNG.standard_normal(shape), requires_grad=True, dtype=dtype)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# --- Conv2d structure -----------------------------------------------------------------------------


def test_conv2d_parameters_in_pytorchs_layout():
    conv = nn.Conv2d(3, 16, 3, padding=1)
    assert conv.weight.shape == (16, 3, 3, 3) and conv.bias.shape == (16,)
    assert conv.weight.dtype == np.float32
    assert [n for n, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv(np.zeros((2, 3, 8, 8), dtype=np.float32)).shape == (2, 16, 8, 8)
    rect = nn.Conv2d(2, 4, (3, 1), stride=(2, 1), padding=(0, 2), dilation=(1, 3), bias=False)
    assert rect.weight.shape == (4, 2, 3, 1) and rect.bias is None
    assert rect(np.zeros((1, 2, 9, 5))).shape == (1, 4, 4, 9)


def test_conv2d_default_init_is_pytorchs_bound_with_the_kernels_fan_in():
    conv = nn.Conv2d(8, 16, 3, generator=np.random.default_rng(0))
    bound = 1 / math.sqrt(8 * 3 * 3)
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert np.all(conv.bias.numpy() == 0)
    torch_like = nn.Conv2d(8, 16, 3, bias_init="torch_default", generator=np.random.default_rng(0))
    b = torch_like.bias.numpy()
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound


@pytest.mark.parametrize(
    "init, expected_std",
    [
        ("he", math.sqrt(2.0 / (16 * 5 * 5))),  # fan_in = C_in kH kW
        ("xavier_normal", math.sqrt(2.0 / (16 * 25 + 32 * 25))),  # fan_in + fan_out
        ("he_uniform", math.sqrt(2.0 / (16 * 5 * 5))),
        ("lecun", math.sqrt(1.0 / (16 * 5 * 5))),
    ],
)
def test_conv2d_fan_based_inits_use_the_kernels_fans(init, expected_std):
    conv = nn.Conv2d(16, 32, 5, init=init, generator=np.random.default_rng(1))
    std = conv.weight.numpy().std()
    assert abs(std / expected_std - 1) < 0.05, (init, std, expected_std)
    assert nn.init.compute_fans(conv.weight.shape) == (16 * 25, 32 * 25)


def test_conv2d_initial_values_follow_the_seed():
    dp.seed(4)
    a = nn.Conv2d(2, 3, 3, init="he").weight.numpy()
    dp.seed(4)
    b = nn.Conv2d(2, 3, 3, init="he").weight.numpy()
    assert np.array_equal(a, b)


# --- configs, registration, state ---------------------------------------------------------

LAYERS = [
    nn.Conv2d(3, 8, 3),
    nn.Conv2d(
        2,
        4,
        (3, 1),
        stride=(2, 1),
        padding=(0, 2),
        dilation=2,
        bias=False,
        init="he",
        bias_init="ones",
        dtype="float64",
    ),  # fmt: skip
    nn.MaxPool2d(2),
    nn.MaxPool2d((3, 2), stride=1, padding=(1, 0)),
    nn.AvgPool2d(3, stride=2, padding=1),
    nn.AdaptiveAvgPool2d(1),
    nn.GlobalAvgPool2d(),
    nn.BatchNorm2d(5, eps=1e-3, momentum=None, affine=False),
]


@pytest.mark.parametrize("layer", LAYERS, ids=repr)
def test_config_rebuilds_the_layer_and_is_json(layer):
    config = layer.get_config()
    json.dumps(config)
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config
    assert nn.LAYERS[type(layer).__name__] is type(layer)
    assert list(rebuilt.state_dict()) == list(layer.state_dict())


def test_every_new_layer_is_registered_and_exported():
    for name in NEW:
        assert nn.LAYERS[name] is getattr(nn, name) and name in nn.__all__


def test_conv_and_batchnorm2d_state_dict_round_trip():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
    model(RNG.standard_normal((4, 2, 5, 5)))  # moves the running statistics
    state = model.state_dict()
    assert list(state) == [
        "0.weight", "0.bias", "1.weight", "1.bias",
        "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]  # fmt: skip
    other = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
    other.load_state_dict(state)
    for (k, a), b in zip(state.items(), other.state_dict().values()):
        assert np.array_equal(a, b), k
    with pytest.raises(
        ShapeError, match=r"state_dict\['0.weight'\]: expected shape \(3, 2, 3, 3\)"
    ):
        nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)).load_state_dict(
            {**state, "0.weight": np.zeros((3, 2, 1, 1))}
        )


def test_state_dict_keys_match_pytorchs(torch):
    ours = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.MaxPool2d(2))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.MaxPool2d(2)
    )
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_a_cnn_saves_and_loads_through_the_model_file(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, (1, 3), stride=(1, 2)), nn.AvgPool2d(2, padding=1),
        nn.GlobalAvgPool2d(), nn.Flatten(), nn.Linear(4, 3),
    )  # fmt: skip
    x = RNG.standard_normal((6, 1, 8, 8)).astype(np.float32)
    model(x)
    path = tmp_path / "cnn.safetensors"
    dp.save(model, path)
    loaded = dp.load(path)
    model.eval()
    loaded.eval()
    assert repr(loaded) == repr(model)
    assert np.array_equal(loaded(x).numpy(), model(x).numpy())


# --- PyTorch parity ------------------------------------------------------------------------------


def _copy_into_torch(ours, theirs, torch):
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert name == tname
            tp.copy_(torch.from_numpy(p.numpy().copy()))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 3},
        {"kernel_size": 3, "padding": 1, "bias": False},
        {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)},
    ],
)
def test_conv2d_layer_matches_pytorch(kwargs, torch):
    ours = nn.Conv2d(3, 4, dtype="float64", **kwargs)
    theirs = torch.nn.Conv2d(3, 4, **kwargs).double()
    _copy_into_torch(ours, theirs, torch)
    x = images(2, 3, 7, 6)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    y, yt = ours(x), theirs(xt)
    g = RNG.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "ours, make_theirs",
    [
        (nn.MaxPool2d(2), lambda tnn: tnn.MaxPool2d(2)),
        (nn.MaxPool2d(3, stride=2, padding=1), lambda tnn: tnn.MaxPool2d(3, 2, 1)),
        (nn.AvgPool2d(2), lambda tnn: tnn.AvgPool2d(2)),
        (
            nn.AvgPool2d((3, 2), stride=1, padding=(1, 0)),
            lambda tnn: tnn.AvgPool2d((3, 2), 1, (1, 0)),
        ),
        (nn.AdaptiveAvgPool2d(1), lambda tnn: tnn.AdaptiveAvgPool2d(1)),
        (nn.GlobalAvgPool2d(), lambda tnn: tnn.AdaptiveAvgPool2d((1, 1))),
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else "torch",
)
def test_pooling_layers_match_pytorch(ours, make_theirs, torch):
    x = images(2, 3, 7, 6)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    y, yt = ours(x), make_theirs(torch.nn)(xt)
    g = RNG.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_batchnorm2d_matches_pytorch_over_training_steps_and_in_eval(torch):
    ours = nn.BatchNorm2d(3, momentum=0.3, dtype="float64")
    theirs = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    opt = optim.SGD(ours.parameters(), lr=0.1)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for step in range(3):
        x = RNG.standard_normal((4, 3, 3, 2)) * 2 + step
        g = RNG.standard_normal(x.shape)
        opt.zero_grad()
        topt.zero_grad()
        ours(dp.tensor(x, dtype=np.float64)).backward(g)
        theirs(torch.from_numpy(x)).backward(torch.from_numpy(g))
        opt.step()
        topt.step()
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-12, err_msg=k)
    ours.eval()
    theirs.eval()
    x = RNG.standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(
        ours(dp.tensor(x, dtype=np.float64)).numpy(),
        theirs(torch.from_numpy(x)).detach().numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_small_cnn_trains_like_pytorch_for_a_few_sgd_steps(torch):
    def ours_model():
        return nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1, dtype="float64"), nn.BatchNorm2d(3, dtype="float64"),
            nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype="float64"),
            nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4, 3, dtype="float64"),
        )  # fmt: skip

    tnn = torch.nn
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 3, 3, padding=1), tnn.BatchNorm2d(3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(3, 4, 3, stride=2, padding=1), tnn.ReLU(), tnn.AvgPool2d(2), tnn.Flatten(),
        tnn.Linear(4, 3),
    ).double()  # fmt: skip
    ours = ours_model()
    with torch.no_grad():
        for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            array = p.numpy().T if name == "8.weight" else p.numpy()  # Linear is (in, out)
            tp.copy_(torch.from_numpy(array.copy()))
    opt, topt = optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()
    losses = []
    for _ in range(4):
        x = RNG.standard_normal((6, 1, 8, 8))
        y = RNG.integers(0, 3, 6)
        opt.zero_grad()
        topt.zero_grad()
        loss = loss_fn(ours(dp.tensor(x, dtype=np.float64)), y)
        tloss = tloss_fn(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        losses.append((loss.item(), tloss.item()))
    for a, b in losses:
        assert abs(a - b) < 1e-10
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        array = p.numpy().T if name == "8.weight" else p.numpy()
        np.testing.assert_allclose(array, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


# --- errors that name the layer -------------------------------------------------------------


def test_conv2d_shape_errors_name_the_layer_and_the_expected_shape():
    conv = nn.Conv2d(3, 16, 3)
    with pytest.raises(
        ShapeError,
        match=r"^Conv2d\(3->16, 3x3\): expected input \(N, 3, H, W\), got \(8, 1, 28, 28\)$",
    ):
        conv(np.zeros((8, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"^Conv2d\(3->16, 3x3\): expected input \(N, 3, H, W\)"):
        conv(np.zeros((3, 28, 28), dtype=np.float32))  # one image without the batch axis
    with pytest.raises(
        ShapeError,
        match=r"^Conv2d\(3->16, 3x3\): the kernel 3x3 is larger than the input's 2x5 plane "
        r"padded by 0,0 \(2x5\)",
    ):
        conv(np.zeros((1, 3, 2, 5), dtype=np.float32))
    assert conv.weight.grad is None  # nothing ran


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: nn.Conv2d(3, 4, 0), "kernel_size: expected an integer >= 1, got 0"),
        (lambda: nn.Conv2d(3, 4, 3, stride=(1, 0)), r"stride\[1\]: expected an integer >= 1"),
        (lambda: nn.Conv2d(3, 4, 3, padding=-1), "padding: expected an integer >= 0, got -1"),
        (lambda: nn.Conv2d(3, 4, 3, dilation="2"), "dilation: expected an integer >= 1"),
        (lambda: nn.Conv2d(3, 4, "3"), "kernel_size"),
        (lambda: nn.Conv2d(0, 4, 3), "in_channels: expected an integer >= 1, got 0"),
        (lambda: nn.Conv2d(3, 4, 3, groups=3), "groups: only groups=1 is supported, got 3"),
        (lambda: nn.Conv2d(3, 4, 3, init="hee"), "init"),
        (lambda: nn.Conv2d(3, 4, 3, bias=1), "bias: expected True or False"),
        (lambda: nn.MaxPool2d(2, padding=2), r"padding: expected at most half the kernel"),
        (lambda: nn.AvgPool2d(2, stride=0), "stride: expected an integer >= 1, got 0"),
        (lambda: nn.AdaptiveAvgPool2d(7), "output_size: only 1 .* got 7"),
        (lambda: nn.AdaptiveAvgPool2d((1, 2)), r"output_size: only 1 .* got \(1, 2\)"),
        (lambda: nn.BatchNorm2d(0), "num_features"),
    ],
)
def test_bad_arguments_are_config_errors(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()


@pytest.mark.parametrize(
    "layer, shape, pattern",
    [
        (nn.MaxPool2d(2), (8, 16), r"^MaxPool2d\(2x2, stride 2\): expected input \(N, C, H, W\)"),
        (
            nn.AvgPool2d(3, stride=(1, 2)),
            (1, 1, 2, 4),
            r"^AvgPool2d\(3x3, stride 1,2\): the kernel 3x3 is larger",
        ),  # fmt: skip
        (nn.AdaptiveAvgPool2d(), (2, 3), r"^AdaptiveAvgPool2d\(1\): expected input \(N, C, H, W\)"),
        (nn.GlobalAvgPool2d(), (2, 3, 4), r"^GlobalAvgPool2d\(\): expected input"),
        (nn.BatchNorm2d(3), (8, 3), r"^BatchNorm2d: expected x of shape \(N, 3, H, W\), got"),
        (nn.BatchNorm2d(3), (8, 4, 2, 2), r"^BatchNorm2d: expected x of shape \(N, 3, H, W\)"),
        (nn.BatchNorm2d(3), (1, 3, 1, 1), "^BatchNorm2d: expected more than 1 value per channel"),
    ],
)
def test_layer_shape_errors_name_the_layer(layer, shape, pattern):
    with pytest.raises(ShapeError, match=pattern):
        layer(np.zeros(shape, dtype=np.float32))


def test_batchnorm2d_failed_call_changes_no_buffer():
    bn = nn.BatchNorm2d(3)
    before = bn.state_dict()
    with pytest.raises(ShapeError):
        bn(np.zeros((1, 3, 1, 1), dtype=np.float32))
    for (k, a), b in zip(before.items(), bn.state_dict().values()):
        assert np.array_equal(a, b), k
